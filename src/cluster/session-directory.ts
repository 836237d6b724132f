import type { Logger, SessionDirectory, StoredSessionState } from '../broker/index.js';
import { ReasonCode, type ProtocolVersion, type Will } from '../packet/index.js';
import { NodeUnreachableError, type ClusterEngine, type KvBucket } from './engine.js';
import { decodeSessionState, encodeSessionState, JournalError, type JournalOp } from './journal-codec.js';

/**
 * Who owns a session: a node, how many times the session has changed owner (fences stale requests), and whether a
 * claim is in progress (`busy`, since `at`): claims of one client id run one at a time cluster-wide, each from the
 * owner before it, so the session's state passes from hand to hand and is never in two.
 */
interface Owner {
  node: string;
  epoch: number;
  busy?: boolean;
  at?: number;
}

/** How long a claim may wait for another claim of the same client id, in all. */
const CLAIM_WAIT_MS = 20_000;
/** A claim older than this is taken to have died with its CONNECT (its node lives on). */
const BUSY_STALE_MS = 30_000;
/** Longest a claim's CONNECT may take to say it is done with the session. */
const SETTLE_TIMEOUT_MS = 30_000;
/** How long the previous owner may take to hand a session over. */
const HANDOVER_TIMEOUT_MS = 5000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** KV keys allow letters, digits and `-_/=.`: client ids, which may hold anything, go in as base64url. */
function keyOf(clientId: string): string {
  return `s.${Buffer.from(clientId).toString('base64url')}`;
}

function encodeOwner(owner: Owner): Uint8Array {
  return encoder.encode(JSON.stringify(owner));
}

function decodeOwner(value: Uint8Array): Owner | undefined {
  try {
    const parsed = JSON.parse(decoder.decode(value)) as Partial<Owner>;
    if (typeof parsed.node !== 'string' || typeof parsed.epoch !== 'number') return undefined;
    return { node: parsed.node, epoch: parsed.epoch, busy: parsed.busy === true, at: typeof parsed.at === 'number' ? parsed.at : 0 };
  } catch {
    return undefined;
  }
}

/** A request to hand a session over, and its answer (see `ClusterSessions`). */
interface HandoverRequest {
  type: 'handover';
  clientId: string;
  /** The epoch the requester claimed with: a request for an older one is stale. */
  epoch: number;
  /** The client connects with Clean Start: the session ends where it is instead. */
  discard: boolean;
}

const ANSWER_NONE = 0;
const ANSWER_STATE = 1;

/** What a node does with its sessions when another node asks for one. */
export interface SessionHolder {
  /** Gives the session up (DISCONNECT 0x8E to its client); its state, or undefined when there is none here. */
  handOver(clientId: string, discard: boolean): StoredSessionState | undefined;
}

/**
 * Session ownership across the nodes, in the engine's `sessions` bucket: one owner per client id at any moment,
 * fenced by the key's revision. A node claims a session before its CONNECT is accepted (compare-and-set on the
 * revision it read, so of several nodes claiming at once exactly one wins each round), then asks the previous
 * owner to hand the session over: that node disconnects its client (0x8E) and answers with the whole session,
 * which the new owner resumes. See docs/cluster.md, "Sessions".
 */
export class ClusterSessions implements SessionDirectory {
  private readonly bucket: KvBucket;
  /** Sessions this node owns, with the revision it wrote (a later change by another node means it lost them). */
  private readonly owned = new Map<string, number>();
  /** The epoch of each session this node owns. */
  private readonly epochs = new Map<string, number>();
  /** Claims in progress on this node, per client id: a handover request for one waits until it is done. */
  private readonly claiming = new Map<string, { done: Promise<void>; settle: () => void }>();

  /** Set while sessions of a dead node are being adopted here. */
  private adopting: Promise<void> | undefined;
  /** Clients connected here with a Will, and the mark that says so: their `disconnected` is marked too. */
  private readonly withWill = new Map<string, JournalOp>();

  constructor(
    private readonly engine: ClusterEngine,
    private readonly holder: SessionHolder,
    private readonly isAlive: (node: string) => boolean,
    /** Adds an operation of the node's own to its journal, soon. */
    private readonly mark: (op: JournalOp) => void,
    /** A client connected here (true) or its connection ended (false). */
    private readonly presence: (clientId: string, online: boolean) => void,
    private readonly logger: Logger,
    /** How long a CONNECT waits for a dead owner's sessions to be adopted (its death found, then the adoption). */
    private readonly adoptionWaitMs = 15_000,
  ) {
    this.bucket = engine.bucket('sessions');
  }

  /**
   * Claims run one at a time per client id on this node, and a handover request for it waits until the CONNECT
   * that claimed is done (`settled`): until its client is attached, the session is not yet where it will be.
   */
  claim(clientId: string, clean: boolean): Promise<StoredSessionState | number | undefined> {
    const previous = this.claiming.get(clientId)?.done ?? Promise.resolve();
    let settle = (): void => undefined;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const claim = previous.then(() => this.claimOnce(clientId, clean));
    const entry = { done, settle };
    this.claiming.set(clientId, entry);
    // A CONNECT that never says it is done (a bug) must not block the client id for ever.
    const timer = setTimeout(settle, SETTLE_TIMEOUT_MS);
    void done.then(() => {
      clearTimeout(timer);
      if (this.claiming.get(clientId) === entry) this.claiming.delete(clientId);
    });
    return claim;
  }

  /** The CONNECT is done: the claim's mark comes off the owner record, and the next claim may go on. */
  settled(clientId: string): void {
    const entry = this.claiming.get(clientId);
    const revision = this.owned.get(clientId);
    const epoch = this.epochs.get(clientId);
    if (revision !== undefined && epoch !== undefined) {
      void this.bucket
        .update(keyOf(clientId), encodeOwner({ node: this.engine.nodeId, epoch }), revision)
        .then((next) => {
          if (next !== undefined && this.owned.get(clientId) === revision) this.owned.set(clientId, next);
        })
        .catch(() => undefined)
        .finally(() => entry?.settle());
    } else entry?.settle();
  }

  /**
   * A client with a Will is marked connected in this node's journal, so that whichever node adopts this one's
   * clients after its death sends the Will (after its delay) unless the client comes back.
   */
  connected(clientId: string, protocolVersion: ProtocolVersion, will: Will | undefined): void {
    this.presence(clientId, true);
    if (will === undefined) {
      if (this.withWill.delete(clientId)) this.mark({ op: 'disconnected', clientId });
      return;
    }
    const delay = protocolVersion === 5 ? (will.properties?.willDelayInterval ?? 0) : 0;
    const mark: JournalOp = {
      op: 'connected',
      session: { clientId, username: undefined, protocolVersion, expiryInterval: 0, disconnectedAt: undefined, will: { will, dueAt: delay } },
    };
    this.withWill.set(clientId, mark);
    this.mark(mark);
  }

  /** Marks every client connected here with a Will again (a compacted journal keeps them). */
  remarkConnected(): void {
    for (const mark of this.withWill.values()) this.mark(mark);
  }

  disconnected(clientId: string): void {
    this.presence(clientId, false);
    if (this.withWill.delete(clientId)) this.mark({ op: 'disconnected', clientId });
  }

  ended(clientId: string): void {
    const revision = this.owned.get(clientId);
    if (revision === undefined) return;
    this.owned.delete(clientId);
    this.epochs.delete(clientId);
    // Only if nobody claimed it since: the revision fences the delete.
    void this.bucket.delete(keyOf(clientId), revision).catch(() => undefined);
  }

  private async claimOnce(clientId: string, clean: boolean): Promise<StoredSessionState | number | undefined> {
    const key = keyOf(clientId);
    const me = this.engine.nodeId;
    const deadline = Date.now() + CLAIM_WAIT_MS;
    try {
      // A clean start's session key is most often absent (a clean session's key goes when it ends): creating it
      // at once saves the read, one of the three JetStream requests of a CONNECT; when it exists, the loop reads it.
      if (clean && (await this.createOwned(key, clientId))) return undefined;
      while (Date.now() < deadline) {
        const entry = await this.bucket.get(key);
        if (entry === undefined) {
          if (await this.createOwned(key, clientId)) return undefined;
          continue;
        }
        const owner = decodeOwner(entry.value) ?? { node: '', epoch: 0 };
        const alive = owner.node !== '' && this.isAlive(owner.node);
        if (owner.busy === true && owner.node !== me && alive && Date.now() - (owner.at ?? 0) < BUSY_STALE_MS) {
          // Another node's claim of this client id is under way: this one goes after it.
          await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 40));
          continue;
        }
        if (owner.node === me) {
          // Adopted from a dead node by this one: the session is here once the adoption is done.
          await this.adopting;
          const revision = await this.bucket.update(key, encodeOwner({ node: me, epoch: owner.epoch, busy: true, at: Date.now() }), entry.revision);
          if (revision === undefined) continue;
          this.took(clientId, revision, owner.epoch);
          return undefined;
        }
        if (owner.node !== '' && !alive) {
          // A dead owner's sessions are adopted by a surviving node (reaper.ts): ask that one once it has.
          if (await this.ownerChanges(key, entry.revision, owner.node)) continue;
          if (this.isAlive(owner.node)) return ReasonCode.ServerUnavailable;
          // Nobody took them over in time: this node takes the session, without what the dead node held.
          const taken = await this.bucket.update(key, encodeOwner({ node: me, epoch: owner.epoch + 1, busy: true, at: Date.now() }), entry.revision);
          if (taken === undefined) continue;
          this.took(clientId, taken, owner.epoch + 1);
          this.logger.warn(`cluster: session ${clientId} of dead node ${owner.node} was not taken over in time: it starts afresh here`);
          return undefined;
        }
        const epoch = owner.epoch + 1;
        const revision = await this.bucket.update(key, encodeOwner({ node: me, epoch, busy: true, at: Date.now() }), entry.revision);
        if (revision === undefined) continue;
        this.took(clientId, revision, epoch);
        if (owner.node === '') return undefined;
        try {
          return await this.requestHandover(owner.node, { type: 'handover', clientId, epoch, discard: clean });
        } catch (err) {
          if (!(err instanceof NodeUnreachableError)) throw err;
          // The owner did not answer: it still counts as the owner (it may be alive, or dead and not yet found so),
          // so ownership goes back to it.
          this.owned.delete(clientId);
          this.epochs.delete(clientId);
          const back = await this.bucket.update(key, encodeOwner({ node: owner.node, epoch: epoch + 1 }), revision);
          // Gone from the engine and not yet found dead: its adoption comes shortly, and the claim is tried again.
          if (back !== undefined && /no responders/i.test(err.message) && (await this.ownerChanges(key, back, owner.node))) continue;
          this.logger.warn(`cluster: session ${clientId} stays on node ${owner.node}, which did not hand it over: ${err.message}`);
          return ReasonCode.ServerUnavailable;
        }
      }
      this.logger.warn(`cluster: session ${clientId} stayed claimed by other nodes for ${CLAIM_WAIT_MS / 1000} s: CONNECT refused`);
      return ReasonCode.ServerBusy;
    } catch (err) {
      this.logger.warn(`cluster: cannot claim session ${clientId}: ${err instanceof Error ? err.message : String(err)}`);
      return ReasonCode.ServerUnavailable;
    }
  }

  /** Claims a session nobody owns by creating its key (epoch 1); false when the key exists. */
  private async createOwned(key: string, clientId: string): Promise<boolean> {
    const revision = await this.bucket.create(key, encodeOwner({ node: this.engine.nodeId, epoch: 1, busy: true, at: Date.now() }));
    if (revision === undefined) return false;
    this.took(clientId, revision, 1);
    return true;
  }

  /** This node owns the session now, at `revision`, with `epoch`. */
  private took(clientId: string, revision: number, epoch: number): void {
    this.owned.set(clientId, revision);
    this.epochs.set(clientId, epoch);
  }

  /**
   * Waits (bounded) for a dead owner's sessions to be adopted: true when another node changed the key meanwhile,
   * false when the owner's adoption finished without taking this session (a clean session has nothing to adopt)
   * or the wait ran out.
   */
  private async ownerChanges(key: string, revision: number, owner: string): Promise<boolean> {
    const nodes = this.engine.bucket('nodes');
    const deadline = Date.now() + this.adoptionWaitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const now = await this.bucket.get(key);
      if (now === undefined || now.revision !== revision) return true;
      // The adopting node removes the dead node's heartbeat when it is done.
      if (!this.isAlive(owner) && (await nodes.get(owner)) === undefined) return false;
    }
    return false;
  }

  private async requestHandover(node: string, request: HandoverRequest): Promise<StoredSessionState | undefined> {
    const answer = await this.engine.request(node, encoder.encode(JSON.stringify(request)), HANDOVER_TIMEOUT_MS);
    if (answer.length === 0 || answer[0] === ANSWER_NONE) return undefined;
    if (answer[0] !== ANSWER_STATE) throw new JournalError('unknown handover answer');
    return decodeSessionState(answer.subarray(1));
  }

  /**
   * Takes over a session a dead node owned, if nobody else has (compare-and-set on the dead owner's revision).
   * Until `whileAdopting` settles, handover requests for it wait.
   */
  async claimFrom(dead: string, clientId: string): Promise<boolean> {
    const key = keyOf(clientId);
    const entry = await this.bucket.get(key);
    const owner = entry === undefined ? undefined : decodeOwner(entry.value);
    if (entry === undefined || owner?.node !== dead) return false;
    const revision = await this.bucket.update(key, encodeOwner({ node: this.engine.nodeId, epoch: owner.epoch + 1 }), entry.revision);
    if (revision === undefined) return false;
    this.took(clientId, revision, owner.epoch + 1);
    return true;
  }

  /** Gives up each session this node thinks it owns that the engine says another node owns now; returns how many. */
  async giveUpLost(giveUp: (clientId: string) => void): Promise<number> {
    let given = 0;
    for (const clientId of [...this.owned.keys()]) {
      const entry = await this.bucket.get(keyOf(clientId));
      const owner = entry === undefined ? undefined : decodeOwner(entry.value);
      if (owner?.node === this.engine.nodeId) continue;
      this.owned.delete(clientId);
      this.epochs.delete(clientId);
      giveUp(clientId);
      given++;
    }
    return given;
  }

  /** Handover requests wait for `adoption` (sessions being taken over from a dead node are not there yet). */
  whileAdopting(adoption: Promise<unknown>): void {
    const settled = adoption.then(
      () => undefined,
      () => undefined,
    );
    this.adopting = settled;
    void settled.then(() => {
      if (this.adopting === settled) this.adopting = undefined;
    });
  }

  /** Answers another node's handover request: it asks for a session this node owned. */
  async answer(data: Uint8Array): Promise<Uint8Array> {
    let request: HandoverRequest;
    try {
      request = JSON.parse(decoder.decode(data)) as HandoverRequest;
      if (request.type !== 'handover' || typeof request.clientId !== 'string' || typeof request.epoch !== 'number') throw new Error('not a handover');
    } catch {
      return Uint8Array.of(ANSWER_NONE);
    }
    const { clientId } = request;
    // Claims of one client id run one at a time cluster-wide (the busy mark), so this node's own claim, if any, is
    // done; a local one queued behind still waits for its turn in the record.
    await this.adopting;
    this.owned.delete(clientId);
    this.epochs.delete(clientId);
    const state = this.holder.handOver(clientId, request.discard);
    if (state === undefined) return Uint8Array.of(ANSWER_NONE);
    const body = encodeSessionState(state);
    const answer = new Uint8Array(1 + body.length);
    answer[0] = ANSWER_STATE;
    answer.set(body, 1);
    return answer;
  }
}
