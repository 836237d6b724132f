/**
 * The cluster journal's wire format. One journal entry (one JetStream message) is one batch a node appended: the
 * broker's store operations for its sessions and retained messages, the QoS 1/2 messages published on it (which
 * every other node routes to its own subscribers), and marks (how far into the journal its routing has got; which
 * clients are connected and with what Will). Messages, sessions and subscriptions are encoded with the store's
 * record codec (each value behind its own CRC-32), so damage or a hostile entry is refused, never trusted.
 *
 * Entry: `CXJ` and the format version (4 bytes), the operation count (u32), then per operation its kind (u8), the
 * length of its body (u32) and the body.
 */
import type { BrokerMessage, SharedChoice, StoredSession, StoredSessionState, StoreOp } from '../broker/index.js';
import {
  decodeOutgoing,
  decodeRetained,
  decodeSession,
  decodeSubscription,
  encodeSession,
  encodeSubscription,
  outgoingSize,
  retainedSize,
  seal,
  writeOutgoing,
  writeRetained,
} from '../broker/internal.js';

/** What a journal entry holds: store operations plus the cluster's own. */
export type JournalOp =
  | StoreOp

  /** The appending node has routed every journal entry below `seq` (and recorded what that changed). */
  | { op: 'consumed'; seq: number }
  /** A client is connected to the appending node; `session.will` is its Will (dueAt: the Will Delay, seconds). */
  | { op: 'connected'; session: StoredSession }
  /** The client's connection ended (its Will, if any, was handled by the appending node). */
  | { op: 'disconnected'; clientId: string };

/** The operations of another node's entry that change anything on a node: what makes an entry followed. */
export const ROUTED_OPS: ReadonlySet<JournalOp['op']> = new Set(['publish', 'putRetained', 'deleteRetained']);

/** A journal entry that does not decode. */
export class JournalError extends Error {
  constructor(message: string) {
    super(`bad journal entry: ${message}`);
    this.name = 'JournalError';
  }
}

const MAGIC = [0x43, 0x58, 0x4a]; // 'CXJ'
const VERSION = 1;
const HEADER = 8;

const KINDS = [
  'putSession',
  'deleteSession',
  'putSubscription',
  'deleteSubscription',
  'putOutgoing',
  'deleteOutgoing',
  'putIncoming',
  'deleteIncoming',
  'putRetained',
  'deleteRetained',
  'publish',
  'consumed',
  'connected',
  'disconnected',
] as const satisfies ReadonlyArray<JournalOp['op']>;
const KIND_OF = new Map<string, number>(KINDS.map((kind, i) => [kind, i]));

function strSize(s: string): number {
  return 2 + Buffer.byteLength(s);
}

function writeStr(buf: Buffer, pos: number, s: string): number {
  const n = buf.write(s, pos + 2);
  if (n > 0xffff) throw new JournalError('string longer than 65535 bytes');
  buf.writeUInt16BE(n, pos);
  return pos + 2 + n;
}

function choicesSize(choices: ReadonlyArray<SharedChoice> | undefined): number {
  let size = 2;
  for (const [group, clientId, node] of choices ?? []) size += strSize(group) + strSize(clientId) + strSize(node);
  return size;
}

function writeChoices(buf: Buffer, pos: number, choices: ReadonlyArray<SharedChoice> | undefined): number {
  const list = choices ?? [];
  buf.writeUInt16BE(list.length, pos);
  let at = pos + 2;
  for (const [group, clientId, node] of list) at = writeStr(buf, writeStr(buf, writeStr(buf, at, group), clientId), node);
  return at;
}

/** Body size and writer of one operation. Values encoded by the store codec are sealed (CRC) as written. */
function bodySize(op: JournalOp): number {
  switch (op.op) {
    case 'putSession':
      return strSize(op.session.clientId) + encodeSession(op.session).length;
    case 'connected':
      return strSize(op.session.clientId) + encodeSession(op.session).length;
    case 'deleteSession':
    case 'disconnected':
      return strSize(op.clientId);
    case 'putSubscription':
      return strSize(op.clientId) + strSize(op.subscription.filter) + encodeSubscription(op.subscription).length;
    case 'deleteSubscription':
      return strSize(op.clientId) + strSize(op.filter);
    case 'putOutgoing':
      return strSize(op.clientId) + 8 + outgoingSize(op.outgoing);
    case 'deleteOutgoing':
      return strSize(op.clientId) + 8;
    case 'putIncoming':
    case 'deleteIncoming':
      return strSize(op.clientId) + 2;
    case 'putRetained':
      return retainedSize(op.message);
    case 'publish':
      return 1 + choicesSize(op.shared) + retainedSize(op.message);
    case 'deleteRetained':
      return strSize(op.topic);
    case 'consumed':
      return 8;
  }
}

function writeBody(buf: Buffer, pos: number, op: JournalOp, size: number): void {
  switch (op.op) {
    case 'putSession':
    case 'connected': {
      const at = writeStr(buf, pos, op.session.clientId);
      seal(encodeSession(op.session)).copy(buf, at);
      return;
    }
    case 'deleteSession':
    case 'disconnected':
      writeStr(buf, pos, op.clientId);
      return;
    case 'putSubscription': {
      let at = writeStr(buf, pos, op.clientId);
      at = writeStr(buf, at, op.subscription.filter);
      seal(encodeSubscription(op.subscription)).copy(buf, at);
      return;
    }
    case 'deleteSubscription':
      writeStr(buf, writeStr(buf, pos, op.clientId), op.filter);
      return;
    case 'putOutgoing': {
      let at = writeStr(buf, pos, op.clientId);
      at = buf.writeDoubleBE(op.outgoing.seq, at);
      writeOutgoing(buf, at, op.outgoing);
      seal(buf.subarray(at, pos + size));
      return;
    }
    case 'deleteOutgoing':
      buf.writeDoubleBE(op.seq, writeStr(buf, pos, op.clientId));
      return;
    case 'putIncoming':
    case 'deleteIncoming':
      buf.writeUInt16BE(op.packetId, writeStr(buf, pos, op.clientId));
      return;
    case 'putRetained':
      writeRetained(buf, pos, op.message);
      seal(buf.subarray(pos, pos + size));
      return;
    case 'publish': {
      buf[pos] = op.sharedOnly === true ? 1 : 0;
      const at = writeChoices(buf, pos + 1, op.shared);
      writeRetained(buf, at, op.message);
      seal(buf.subarray(at, pos + size));
      return;
    }
    case 'deleteRetained':
      writeStr(buf, pos, op.topic);
      return;
    case 'consumed':
      buf.writeDoubleBE(op.seq, pos);
      return;
  }
}

/** Encodes a batch of operations as one journal entry. */
export function encodeBatch(ops: readonly JournalOp[]): Buffer {
  const sizes = ops.map(bodySize);
  return encodeRange(ops, sizes, 0, ops.length);
}

/**
 * Encodes operations as consecutive journal entries of at most `maxBytes` each (NATS refuses a message above its
 * max_payload, 1 MB by default); an operation larger than that alone gets an entry of its own.
 */
export function encodeBatches(ops: readonly JournalOp[], maxBytes: number): Buffer[] {
  const sizes = ops.map(bodySize);
  const entries: Buffer[] = [];
  let from = 0;
  let bytes = HEADER;
  for (let i = 0; i < ops.length; i++) {
    const size = 5 + sizes[i]!;
    if (i > from && bytes + size > maxBytes) {
      entries.push(encodeRange(ops, sizes, from, i));
      from = i;
      bytes = HEADER;
    }
    bytes += size;
  }
  if (from < ops.length || ops.length === 0) entries.push(encodeRange(ops, sizes, from, ops.length));
  return entries;
}

function encodeRange(ops: readonly JournalOp[], sizes: readonly number[], from: number, to: number): Buffer {
  let total = HEADER;
  for (let i = from; i < to; i++) total += 5 + sizes[i]!;
  const buf = Buffer.allocUnsafe(total);
  buf[0] = MAGIC[0]!;
  buf[1] = MAGIC[1]!;
  buf[2] = MAGIC[2]!;
  buf[3] = VERSION;
  buf.writeUInt32BE(to - from, 4);
  let pos = HEADER;
  for (let i = from; i < to; i++) {
    const op = ops[i]!;
    const size = sizes[i]!;
    buf[pos] = KIND_OF.get(op.op)!;
    buf.writeUInt32BE(size, pos + 1);
    writeBody(buf, pos + 5, op, size);
    pos += 5 + size;
  }
  return buf;
}

/** A cursor over one body; every read is bounds-checked. */
class BodyReader {
  constructor(
    private readonly buf: Buffer,
    private pos: number,
    private readonly end: number,
  ) {}

  str(): string {
    if (this.pos + 2 > this.end) throw new JournalError('string length past the end');
    const n = this.buf.readUInt16BE(this.pos);
    if (this.pos + 2 + n > this.end) throw new JournalError('string past the end');
    const s = this.buf.toString('utf8', this.pos + 2, this.pos + 2 + n);
    this.pos += 2 + n;
    return s;
  }

  f64(): number {
    if (this.pos + 8 > this.end) throw new JournalError('number past the end');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    if (!Number.isSafeInteger(v) || v < 0) throw new JournalError('not a sequence number');
    return v;
  }

  u8(): number {
    if (this.pos + 1 > this.end) throw new JournalError('flags past the end');
    return this.buf[this.pos++]!;
  }

  /** Shared-subscription choices: a count (u16), then group, client id and node per choice. */
  choices(): SharedChoice[] {
    const count = this.u16();
    const out: SharedChoice[] = [];
    for (let i = 0; i < count; i++) out.push([this.str(), this.str(), this.str()]);
    return out;
  }

  u16(): number {
    if (this.pos + 2 > this.end) throw new JournalError('packet id past the end');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  rest(): Buffer {
    const value = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return value;
  }

  done(): void {
    if (this.pos !== this.end) throw new JournalError('bytes after an operation');
  }
}

function readBody(kind: (typeof KINDS)[number], r: BodyReader): JournalOp {
  switch (kind) {
    case 'putSession':
    case 'connected': {
      const clientId = r.str();
      return { op: kind, session: decodeSession(clientId, r.rest()) };
    }
    case 'deleteSession':
    case 'disconnected': {
      const clientId = r.str();
      r.done();
      return { op: kind, clientId };
    }
    case 'putSubscription': {
      const clientId = r.str();
      const filter = r.str();
      return { op: kind, clientId, subscription: decodeSubscription(filter, r.rest()) };
    }
    case 'deleteSubscription': {
      const clientId = r.str();
      const filter = r.str();
      r.done();
      return { op: kind, clientId, filter };
    }
    case 'putOutgoing': {
      const clientId = r.str();
      const seq = r.f64();
      return { op: kind, clientId, outgoing: decodeOutgoing(seq, r.rest()) };
    }
    case 'deleteOutgoing': {
      const clientId = r.str();
      const seq = r.f64();
      r.done();
      return { op: kind, clientId, seq };
    }
    case 'putIncoming':
    case 'deleteIncoming': {
      const clientId = r.str();
      const packetId = r.u16();
      r.done();
      if (packetId === 0) throw new JournalError('packet id 0');
      return { op: kind, clientId, packetId };
    }
    case 'putRetained':
      return { op: kind, message: decodeRetained(r.rest()) };
    case 'publish': {
      const flags = r.u8();
      const shared = r.choices();
      const message = decodeRetained(r.rest());
      const op: JournalOp = { op: kind, message };
      if (shared.length > 0) op.shared = shared;
      if ((flags & 1) !== 0) op.sharedOnly = true;
      return op;
    }
    case 'deleteRetained': {
      const topic = r.str();
      r.done();
      return { op: kind, topic };
    }
    case 'consumed': {
      const seq = r.f64();
      r.done();
      return { op: kind, seq };
    }
  }
}

/**
 * Decodes a journal entry; throws JournalError for anything that is not a whole, intact entry of this format
 * (another program's message on the cluster's subjects, damage, a newer format). Payloads are views of `data`.
 * With `only`, operations of other kinds are framed and skipped, not decoded: a follower needs only what routes
 * (most of an entry is the writing node's session bookkeeping).
 */
export function decodeBatch(data: Uint8Array, only?: ReadonlySet<JournalOp['op']>): JournalOp[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < HEADER || buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1] || buf[2] !== MAGIC[2]) throw new JournalError('not a journal entry');
  if (buf[3] !== VERSION) throw new JournalError(`format version ${buf[3]}, this node reads ${VERSION}`);
  const count = buf.readUInt32BE(4);
  // Each operation takes at least 5 bytes: a count that cannot fit is refused before anything is allocated.
  if (count * 5 > buf.length - HEADER) throw new JournalError(`${count} operations cannot fit ${buf.length} bytes`);
  const ops: JournalOp[] = [];
  let pos = HEADER;
  for (let i = 0; i < count; i++) {
    if (pos + 5 > buf.length) throw new JournalError('operation header past the end');
    const kind = KINDS[buf[pos]!];
    if (kind === undefined) throw new JournalError(`unknown operation ${buf[pos]}`);
    const size = buf.readUInt32BE(pos + 1);
    const end = pos + 5 + size;
    if (end > buf.length) throw new JournalError('operation past the end');
    if (only !== undefined && !only.has(kind)) {
      pos = end;
      continue;
    }
    try {
      ops.push(readBody(kind, new BodyReader(buf, pos + 5, end)));
    } catch (err) {
      if (err instanceof JournalError) throw err;
      throw new JournalError(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
    }
    pos = end;
  }
  if (pos !== buf.length) throw new JournalError('bytes after the last operation');
  return ops;
}

/** One message on its own (retained messages in the engine's store): the store codec's message value, sealed. */
export function encodeMessage(message: BrokerMessage): Buffer {
  const buf = Buffer.allocUnsafe(retainedSize(message));
  writeRetained(buf, 0, message);
  return seal(buf);
}

/** Decodes `encodeMessage`'s bytes; throws JournalError when they are not one intact message. */
export function decodeMessage(data: Uint8Array): BrokerMessage {
  try {
    return decodeRetained(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch (err) {
    throw new JournalError(`message: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A live (QoS 0) message between nodes: the shared-subscription members chosen for it, then the message. */
export function encodeLive(message: BrokerMessage, shared: ReadonlyArray<SharedChoice> | undefined): Buffer {
  const choices = choicesSize(shared);
  const buf = Buffer.allocUnsafe(choices + retainedSize(message));
  const at = writeChoices(buf, 0, shared);
  writeRetained(buf, at, message);
  seal(buf.subarray(at));
  return buf;
}

export function decodeLive(data: Uint8Array): { message: BrokerMessage; shared: SharedChoice[] } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const r = new BodyReader(buf, 0, buf.length);
  const shared = r.choices();
  try {
    return { shared, message: decodeRetained(r.rest()) };
  } catch (err) {
    throw new JournalError(`message: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A session's whole state as one journal-format entry (a session handed from one node to another). */
export function encodeSessionState(state: StoredSessionState): Buffer {
  const clientId = state.session.clientId;
  const ops: JournalOp[] = [{ op: 'putSession', session: state.session }];
  for (const subscription of state.subscriptions) ops.push({ op: 'putSubscription', clientId, subscription });
  for (const outgoing of state.outgoing) ops.push({ op: 'putOutgoing', clientId, outgoing });
  for (const packetId of state.incoming) ops.push({ op: 'putIncoming', clientId, packetId });
  return encodeBatch(ops);
}

/** Reads `encodeSessionState`'s bytes back; throws JournalError for anything else. */
export function decodeSessionState(data: Uint8Array): StoredSessionState {
  const ops = decodeBatch(data);
  const first = ops[0];
  if (first?.op !== 'putSession') throw new JournalError('a session state starts with its session');
  const state: StoredSessionState = { session: first.session, subscriptions: [], outgoing: [], incoming: [] };
  for (const op of ops.slice(1)) {
    if (op.op === 'putSubscription') state.subscriptions.push(op.subscription);
    else if (op.op === 'putOutgoing') state.outgoing.push(op.outgoing);
    else if (op.op === 'putIncoming') state.incoming.push(op.packetId);
    else throw new JournalError(`${op.op} in a session state`);
  }
  return state;
}
