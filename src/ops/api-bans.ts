/**
 * Bans (`GET|POST /api/v1/bans`, `DELETE /api/v1/bans/{id}`): client ids and user names (exact or by prefix) and
 * addresses (one, or a CIDR block) refused at CONNECT with 0x8A Banned, for a while or for ever. A ban's id is its
 * kind, `=` (exact) or `*` (prefix), and its value: `clientId=sensor-7`, `username*guest-`, `address=10.0.0.0/8`;
 * adding a ban with the id of one in force replaces it.
 */
import type { Ban, BanKind, BanRequest, Bans } from '../auth/index.js';
import { Body } from './body.js';
import { ApiError, badRequest, notFound } from './http-error.js';
import type { AdminNode, Nodes } from './nodes.js';
import { Query } from './query.js';
import type { Route } from './routes.js';

export const banKinds: readonly BanKind[] = ['clientId', 'username', 'address'];

/** Ten years: a longer ban is a ban for ever, and should say so. */
const MAX_DURATION = 10 * 365 * 24 * 3600;

export function banId(ban: Pick<Ban, 'kind' | 'value' | 'prefix'>): string {
  return `${ban.kind}${ban.prefix ? '*' : '='}${ban.value}`;
}

/** A ban's id back into what `Bans.remove` takes. */
function parseBanId(id: string): { kind: BanKind; value: string; prefix: boolean } {
  const match = /^(clientId|username|address)([=*])(.+)$/s.exec(id);
  if (match === null) throw badRequest(`'${id}' is not a ban id: KIND=VALUE or KIND*PREFIX, KIND one of ${banKinds.join(', ')}`);
  return { kind: match[1] as BanKind, prefix: match[2] === '*', value: match[3]! };
}

export interface BanItem {
  node: string;
  id: string;
  kind: BanKind;
  value: string;
  prefix: boolean;
  createdAt: string;
  /** ISO 8601; null: never. */
  expiresAt: string | null;
  reason: string | null;
}

function banItem(node: string, ban: Ban): BanItem {
  return {
    node,
    id: banId(ban),
    kind: ban.kind,
    value: ban.value,
    prefix: ban.prefix === true,
    createdAt: new Date(ban.created).toISOString(),
    expiresAt: ban.until === undefined ? null : new Date(ban.until).toISOString(),
    reason: ban.reason ?? null,
  };
}

function bansOf(node: AdminNode): Bans {
  if (node.bans === undefined) {
    throw new ApiError('not_implemented', `node '${node.name}' has no ban list: the program serving this admin listener did not give it one (culex broker does)`);
  }
  return node.bans;
}

/** The expiry a request asks for: `durationSeconds` from now, or `expiresAt`; neither: never. */
function expiryOf(body: Body, now: number): number | undefined {
  const duration = body.integer('durationSeconds', 1, MAX_DURATION);
  const at = body.string('expiresAt');
  if (duration !== undefined && at !== undefined) throw badRequest("give 'durationSeconds' or 'expiresAt', not both");
  if (duration !== undefined) return now + duration * 1000;
  if (at === undefined) return undefined;
  const until = Date.parse(at);
  if (Number.isNaN(until)) throw badRequest(`'expiresAt' must be an ISO 8601 time, not '${at}'`);
  if (until <= now) throw badRequest(`'expiresAt' ${at} is past`);
  return until;
}

/**
 * The ban list's own checks (address syntax, prefix on an address) as 400s. Its BanError is known by name: importing
 * the class would load the whole auth part (JWT library included) with this one, for a broker that may not use it.
 */
async function asBadRequest<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof Error && err.name === 'BanError') throw badRequest(err.message);
    throw err;
  }
}

export function banRoutes(nodes: Nodes): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/bans',
      handle: (request) => {
        const query = new Query(request.query, ['kind']);
        const kind = query.oneOf('kind', banKinds);
        const items = nodes.select(query).flatMap((node) =>
          bansOf(node)
            .list()
            .filter((ban) => kind === undefined || ban.kind === kind)
            .map((ban) => banItem(node.name, ban)),
        );
        return { json: { items } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/bans',
      handle: async (request) => {
        const node = nodes.one(new Query(request.query, []));
        const bans = bansOf(node);
        const body = new Body(await request.json(), ['kind', 'value', 'prefix', 'durationSeconds', 'expiresAt', 'reason']);
        const kind = body.oneOf('kind', banKinds);
        if (kind === undefined) throw badRequest(`'kind' is required (one of ${banKinds.join(', ')})`);
        const value = body.requiredString('value');
        if (value === '') throw badRequest("'value' must not be empty");
        const prefix = body.boolean('prefix') ?? false;
        const ban: BanRequest = { kind, value };
        if (prefix) ban.prefix = true;
        const until = expiryOf(body, Date.now());
        if (until !== undefined) ban.until = until;
        const reason = body.string('reason');
        if (reason !== undefined) ban.reason = reason;
        const added = await asBadRequest(() => bans.add(ban));
        return { status: 201, json: banItem(node.name, added) };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/bans/{id+}',
      handle: async (request) => {
        const node = nodes.one(new Query(request.query, []));
        const bans = bansOf(node);
        const id = request.params['id']!;
        const { kind, value, prefix } = parseBanId(id);
        if (!(await asBadRequest(() => bans.remove(kind, value, prefix)))) throw notFound(`no ban '${id}'`);
        return { status: 204 };
      },
    },
  ];
}
