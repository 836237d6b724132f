import type { Logger, SessionDirectory, StoredSessionState } from '../broker/index.js';
import { ReasonCode, type ProtocolVersion, type Will } from '../packet/index.js';
import { NodeUnreachableError, type ClusterEngine, type KvBucket } from './engine.js';
import { decodeSessionState, encodeSessionState, JournalError, type JournalOp } from './journal-codec.js';

/** Who owns a session: a node, and how many times the session has changed owner (fences stale requests). */
interface Owner {
  node: string;
  epoch: number;
}

/** How many times a CONNECT retries when other nodes keep claiming the same client id at the same moment. */
const CLAIM_ATTEMPTS = 8;
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
    return { node: parsed.node, epoch: parsed.epoch };
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
  /** Claims in progress on this node, per client id: a handover request for one waits until it is done. */
  private readonly claiming = new Map<string, Promise<unknown>>();

  /** Set while sessions of a dead node are being adopted here. */
  private adopting: Promise<void> | undefined;
  /** Clients connected here with a Will: their `disconnected` is marked too. */
  private readonly withWill = new Set<string>();

  constructor(
    private readonly engine: ClusterEngine,
    private readonly holder: SessionHolder,
    private readonly isAlive: (node: string) => boolean,
    /** Adds an operation of the node's own to its journal, soon. */
    private readonly mark: (op: JournalOp) => void,
    private readonly logger: Logger,
    /** How long a CONNECT waits for a dead owner's sessions to be adopted (its death found, then the adoption). */
    private readonly adoptionWaitMs = 15_000,
  ) {
    this.bucket = engine.bucket('sessions');
  }

  /** Answers other nodes' handover requests (once the engine is started). */
  start(): void {
    this.engine.serve((data) => this.onRequest(data));
  }

  claim(clientId: string, clean: boolean): Promise<StoredSessionState | number | undefined> {
    const previous = this.claiming.get(clientId) ?? Promise.resolve();
    const claim = previous.then(
      () => this.claimOnce(clientId, clean),
      () => this.claimOnce(clientId, clean),
    );
    this.claiming.set(clientId, claim);
    const done = (): void => {
      if (this.claiming.get(clientId) === claim) this.claiming.delete(clientId);
    };
    claim.then(done, done);
    return claim;
  }

  /**
   * A client with a Will is marked connected in this node's journal, so that whichever node adopts this one's
   * clients after its death sends the Will (after its delay) unless the client comes back.
   */
  connected(clientId: string, protocolVersion: ProtocolVersion, will: Will | undefined): void {
    if (will === undefined) {
      if (this.withWill.delete(clientId)) this.mark({ op: 'disconnected', clientId });
      return;
    }
    this.withWill.add(clientId);
    const delay = protocolVersion === 5 ? (will.properties?.willDelayInterval ?? 0) : 0;
    this.mark({
      op: 'connected',
      session: { clientId, username: undefined, protocolVersion, expiryInterval: 0, disconnectedAt: undefined, will: { will, dueAt: delay } },
    });
  }

  disconnected(clientId: string): void {
    if (this.withWill.delete(clientId)) this.mark({ op: 'disconnected', clientId });
  }

  ended(clientId: string): void {
    const revision = this.owned.get(clientId);
    if (revision === undefined) return;
    this.owned.delete(clientId);
    // Only if nobody claimed it since: the revision fences the delete.
    void this.bucket.delete(keyOf(clientId), revision).catch(() => undefined);
  }

  private async claimOnce(clientId: string, clean: boolean): Promise<StoredSessionState | number | undefined> {
    const key = keyOf(clientId);
    const me = this.engine.nodeId;
    try {
      for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        const entry = await this.bucket.get(key);
        if (entry === undefined) {
          const revision = await this.bucket.create(key, encodeOwner({ node: me, epoch: 1 }));
          if (revision === undefined) continue;
          this.owned.set(clientId, revision);
          return undefined;
        }
        const owner = decodeOwner(entry.value) ?? { node: '', epoch: 0 };
        if (owner.node === me) {
          // Adopted from a dead node by this one: the session is here once the adoption is done.
          await this.adopting;
          this.owned.set(clientId, entry.revision);
          return undefined;
        }
        if (owner.node !== '' && !this.isAlive(owner.node)) {
          // A dead owner's sessions are adopted by a surviving node (reaper.ts): ask that one once it has.
          if (await this.ownerChanges(key, entry.revision, owner.node)) continue;
          if (this.isAlive(owner.node)) return ReasonCode.ServerUnavailable;
          // Nobody took them over in time: this node takes the session, without what the dead node held.
          const taken = await this.bucket.update(key, encodeOwner({ node: me, epoch: owner.epoch + 1 }), entry.revision);
          if (taken === undefined) continue;
          this.owned.set(clientId, taken);
          this.logger.warn(`cluster: session ${clientId} of dead node ${owner.node} was not taken over in time: it starts afresh here`);
          return undefined;
        }
        const epoch = owner.epoch + 1;
        const revision = await this.bucket.update(key, encodeOwner({ node: me, epoch }), entry.revision);
        if (revision === undefined) continue;
        this.owned.set(clientId, revision);
        if (owner.node === '') return undefined;
        try {
          return await this.requestHandover(owner.node, { type: 'handover', clientId, epoch, discard: clean });
        } catch (err) {
          if (!(err instanceof NodeUnreachableError)) throw err;
          // The owner did not answer: it still counts as the owner (it may be alive, or dead and not yet found so),
          // so ownership goes back to it; a dead one's sessions are adopted shortly, and the claim is tried again.
          this.owned.delete(clientId);
          const back = await this.bucket.update(key, encodeOwner({ node: owner.node, epoch: epoch + 1 }), revision);
          // Gone from the engine and not yet found dead: its adoption comes shortly, and the claim is tried again.
          if (back !== undefined && /no responders/i.test(err.message) && (await this.ownerChanges(key, back, owner.node))) continue;
          this.logger.warn(`cluster: session ${clientId} stays on node ${owner.node}, which did not hand it over: ${err.message}`);
          return ReasonCode.ServerUnavailable;
        }
      }
      this.logger.warn(`cluster: session ${clientId} claimed by other nodes ${CLAIM_ATTEMPTS} times in a row: CONNECT refused`);
      return ReasonCode.ServerBusy;
    } catch (err) {
      this.logger.warn(`cluster: cannot claim session ${clientId}: ${err instanceof Error ? err.message : String(err)}`);
      return ReasonCode.ServerUnavailable;
    }
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
    this.owned.set(clientId, revision);
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

  /** Another node asks for a session this node owned. */
  private async onRequest(data: Uint8Array): Promise<Uint8Array> {
    let request: HandoverRequest;
    try {
      request = JSON.parse(decoder.decode(data)) as HandoverRequest;
      if (request.type !== 'handover' || typeof request.clientId !== 'string' || typeof request.epoch !== 'number') throw new Error('not a handover');
    } catch {
      return Uint8Array.of(ANSWER_NONE);
    }
    const { clientId } = request;
    // A claim of this node's own for the same client finishes first: then its client is the one taken over.
    await this.claiming.get(clientId)?.catch(() => undefined);
    await this.adopting;
    const entry = await this.bucket.get(keyOf(clientId)).catch(() => undefined);
    const owner = entry === undefined ? undefined : decodeOwner(entry.value);
    // Stale: the session changed owner again since the request was made; whoever owns it now asks in turn.
    if (owner !== undefined && owner.epoch > request.epoch) return Uint8Array.of(ANSWER_NONE);
    this.owned.delete(clientId);
    const state = this.holder.handOver(clientId, request.discard);
    if (state === undefined) return Uint8Array.of(ANSWER_NONE);
    const body = encodeSessionState(state);
    const answer = new Uint8Array(1 + body.length);
    answer[0] = ANSWER_STATE;
    answer.set(body, 1);
    return answer;
  }
}
