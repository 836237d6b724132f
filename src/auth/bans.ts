/**
 * Bans: clients refused at CONNECT (0x8A Banned) by client id or user name (exact, or by prefix) or by address (an
 * address or a CIDR block, IPv4-mapped IPv6 addresses matching their IPv4 form), each until a time or for ever.
 *
 * The broker checks bans through the `Bans` interface, synchronously at each CONNECT; `BanList` implements it in
 * memory, kept in a `BanStore` (a JSON file next to the broker's data, or nothing). A cluster can implement `Bans`
 * on its shared state instead, answering `find` from a local copy it keeps up to date.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import { dirname } from 'node:path';

export type BanKind = 'clientId' | 'username' | 'address';

/** What is banned, as an admin asks for it. */
export interface BanRequest {
  kind: BanKind;
  /** A client id or user name (or its beginning, with `prefix`), or an IP address or CIDR block (`10.0.0.0/8`). */
  value: string;
  /** Client ids or user names that start with `value`. */
  prefix?: boolean;
  /** When the ban ends, epoch ms; absent: never. */
  until?: number;
  /** Why, for the log and whoever lists the bans. */
  reason?: string;
}

export interface Ban extends BanRequest {
  /** When it was made, epoch ms. */
  created: number;
}

/** Who is connecting, as far as bans care. */
export interface BanSubject {
  clientId: string;
  username: string | undefined;
  address: string;
}

/** The ban list the broker consults, and an admin API changes. */
export interface Bans {
  /** The ban in force that covers this client, if any. Called for each CONNECT: synchronous, and cheap. */
  find(subject: BanSubject): Ban | undefined;
  /** The bans in force. */
  list(): Ban[];
  /** Adds a ban (replacing one of the same kind, value and prefix); resolves once it is stored. */
  add(request: BanRequest): Promise<Ban>;
  /** Removes a ban; resolves with whether there was one, once stored. */
  remove(kind: BanKind, value: string, prefix?: boolean): Promise<boolean>;
  /** Hears of each ban added (to disconnect the clients it covers). */
  onAdded(listener: (ban: Ban) => void): void;
}

/** Where a `BanList` keeps its bans between runs. */
export interface BanStore {
  load(): Promise<Ban[]>;
  save(bans: readonly Ban[]): Promise<void>;
}

/** A ban that is not well formed: the reason, as an admin API can pass it on. */
export class BanError extends Error {
  override readonly name = 'BanError';
}

const KINDS: readonly BanKind[] = ['clientId', 'username', 'address'];

/** An address ban's value (one address or a CIDR block) as a BlockList, and written the one way it is stored. */
function parseAddress(value: string): { block: BlockList; normal: string } {
  const [address = '', bits, extra] = value.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) throw new BanError(`'${value}' is not an IP address or a CIDR block`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const block = new BlockList();
  if (bits === undefined) {
    block.addAddress(address, type);
    return { block, normal: address };
  }
  const prefix = Number(bits);
  if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw new BanError(`'${value}': /${bits} is not a prefix length for IPv${family}`);
  block.addSubnet(address, prefix, type);
  return { block, normal: `${address}/${prefix}` };
}

/** Checks a request and makes it a ban (the address normalised). */
export function makeBan(request: BanRequest, now: number): Ban {
  const { kind, value, prefix, until, reason } = request;
  if (!KINDS.includes(kind)) throw new BanError(`unknown ban kind '${String(kind)}' (known: ${KINDS.join(', ')})`);
  if (typeof value !== 'string' || value === '') throw new BanError('a ban needs a value');
  if (until !== undefined && !Number.isFinite(until)) throw new BanError('until must be epoch milliseconds');
  if (reason !== undefined && typeof reason !== 'string') throw new BanError('reason must be text');
  const ban: Ban = { kind, value, created: now };
  if (kind === 'address') {
    if (prefix) throw new BanError('an address ban takes a CIDR block, not a prefix');
    ban.value = parseAddress(value).normal;
  } else if (prefix) ban.prefix = true;
  if (until !== undefined) ban.until = until;
  if (reason !== undefined) ban.reason = reason;
  return ban;
}

/** Whether `ban` covers `subject`, its expiry aside; `block` is an address ban's parsed value, when kept. */
export function covers(ban: Ban, subject: BanSubject, block?: BlockList): boolean {
  switch (ban.kind) {
    case 'clientId':
      return ban.prefix ? subject.clientId.startsWith(ban.value) : subject.clientId === ban.value;
    case 'username':
      return subject.username !== undefined && (ban.prefix ? subject.username.startsWith(ban.value) : subject.username === ban.value);
    case 'address': {
      const family = isIP(subject.address);
      return family !== 0 && (block ?? parseAddress(ban.value).block).check(subject.address, family === 6 ? 'ipv6' : 'ipv4');
    }
  }
}

function keyOf(kind: BanKind, value: string, prefix: boolean | undefined): string {
  return `${kind}${prefix ? '*' : '='}${value}`;
}

/** Words for a ban, for log lines. */
export function describeBan(ban: Ban): string {
  const what = ban.kind === 'address' ? `address ${ban.value}` : `${ban.kind === 'clientId' ? 'client id' : 'user name'} ${ban.prefix ? 'prefix ' : ''}${JSON.stringify(ban.value)}`;
  return `${what} ${ban.until === undefined ? 'for ever' : `until ${new Date(ban.until).toISOString()}`}${ban.reason ? ` (${ban.reason})` : ''}`;
}

/** Bans in memory, each change written to a store (in order, one write at a time). */
export class BanList implements Bans {
  private readonly bans = new Map<string, Ban>();
  /** Exact bans by kind and value, for the look-up at each CONNECT; prefix and address bans are scanned. */
  private readonly exact = new Map<string, Ban>();
  private scanned: Array<{ ban: Ban; block?: BlockList }> = [];
  private readonly listeners: Array<(ban: Ban) => void> = [];
  private saving: Promise<void> = Promise.resolve();

  /** An empty list; with a store, use `load` to start from what it holds. */
  constructor(
    private readonly store?: BanStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** The bans the store holds (expired ones dropped). */
  static async load(store?: BanStore, { now = Date.now }: { now?: () => number } = {}): Promise<BanList> {
    const list = new BanList(store, now);
    for (const ban of (await store?.load()) ?? []) list.put(makeBan(ban, ban.created));
    list.purge();
    return list;
  }

  find(subject: BanSubject): Ban | undefined {
    if (this.bans.size === 0) return undefined;
    const now = this.now();
    const live = (ban: Ban | undefined): Ban | undefined => (ban !== undefined && (ban.until === undefined || ban.until > now) ? ban : undefined);
    const hit =
      live(this.exact.get(keyOf('clientId', subject.clientId, false))) ??
      (subject.username === undefined ? undefined : live(this.exact.get(keyOf('username', subject.username, false))));
    if (hit !== undefined) return hit;
    for (const { ban, block } of this.scanned) if (live(ban) !== undefined && covers(ban, subject, block)) return ban;
    return undefined;
  }

  list(): Ban[] {
    this.purge();
    return [...this.bans.values()];
  }

  async add(request: BanRequest): Promise<Ban> {
    const ban = makeBan(request, this.now());
    this.put(ban);
    for (const listener of this.listeners) listener(ban);
    await this.save();
    return ban;
  }

  async remove(kind: BanKind, value: string, prefix?: boolean): Promise<boolean> {
    const normal = kind === 'address' ? makeBan({ kind, value }, 0).value : value;
    const key = keyOf(kind, normal, kind === 'address' ? false : prefix);
    const ban = this.bans.get(key);
    if (ban === undefined) return false;
    this.bans.delete(key);
    this.reindex();
    await this.save();
    return true;
  }

  onAdded(listener: (ban: Ban) => void): void {
    this.listeners.push(listener);
  }

  private put(ban: Ban): void {
    this.bans.set(keyOf(ban.kind, ban.value, ban.prefix), ban);
    this.reindex();
  }

  private reindex(): void {
    this.exact.clear();
    this.scanned = [];
    for (const [key, ban] of this.bans) {
      if (ban.kind === 'address') this.scanned.push({ ban, block: parseAddress(ban.value).block });
      else if (ban.prefix) this.scanned.push({ ban });
      else this.exact.set(key, ban);
    }
  }

  /** Forgets expired bans (kept meanwhile: `find` skips them). */
  private purge(): void {
    const now = this.now();
    let dropped = false;
    for (const [key, ban] of this.bans) {
      if (ban.until !== undefined && ban.until <= now) {
        this.bans.delete(key);
        dropped = true;
      }
    }
    if (dropped) this.reindex();
  }

  /** Writes the list after the writes before it; a failed write fails this change, not the next. */
  private save(): Promise<void> {
    const store = this.store;
    if (store === undefined) return Promise.resolve();
    const write = this.saving.catch(() => undefined).then(() => {
      this.purge();
      return store.save([...this.bans.values()]);
    });
    this.saving = write;
    return write;
  }
}

/**
 * Bans in a JSON file (`{"bans": [...]}`), replaced whole on each change (written aside, flushed, renamed), so a crash
 * leaves the old list or the new one.
 */
export class FileBanStore implements BanStore {
  constructor(readonly file: string) {}

  async load(): Promise<Ban[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new BanError(`${this.file}: not JSON: ${(err as Error).message}`);
    }
    const bans = (parsed as { bans?: unknown }).bans;
    if (!Array.isArray(bans)) throw new BanError(`${this.file}: expected {"bans": [...]}`);
    return bans.map((ban: Ban, i) => {
      try {
        return makeBan(ban, typeof ban.created === 'number' ? ban.created : 0);
      } catch (err) {
        throw new BanError(`${this.file}: bans[${i}]: ${(err as Error).message}`);
      }
    });
  }

  async save(bans: readonly Ban[]): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const aside = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(aside, `${JSON.stringify({ bans }, null, 2)}\n`);
    const handle = await open(aside, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(aside, this.file);
  }
}
