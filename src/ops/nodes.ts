/**
 * The nodes the admin interface speaks for. Every view and action takes a `node` parameter so that the same
 * requests work unchanged once a cluster answers for all its nodes; today each node answers for itself.
 */
import type { Bans } from '../auth/index.js';
import type { Broker } from '../broker/index.js';
import type { Alarms } from './alarms.js';
import { ApiError } from './http-error.js';
import type { Query } from './query.js';
import type { TraceRegistry } from './trace.js';

export interface AdminNode {
  /** The node's name (a cluster node's name, else the host name). */
  readonly name: string;
  readonly broker: Broker;
  readonly traces: TraceRegistry;
  readonly alarms: Alarms;
  /** Its ban list; undefined when the program serving the API gave none (the ban routes answer 501). */
  readonly bans: Bans | undefined;
}

export class Nodes {
  constructor(
    readonly local: AdminNode,
    /** True on a cluster node: `all` would then mean nodes this one cannot answer for yet. */
    private readonly clustered: boolean,
  ) {}

  /**
   * The nodes a request names: this node when `node` is absent, `local` or its name; `all` is every node, which
   * without a cluster is this one. Another name is 404; `all` on a cluster node is 501 (not yet).
   */
  select(query: Query): AdminNode[] {
    const name = query.string('node');
    if (name === undefined || name === 'local' || name === this.local.name) return [this.local];
    if (name === 'all') {
      if (this.clustered) throw new ApiError('not_implemented', "node=all is not available on a cluster node yet: ask each node (node=local)");
      return [this.local];
    }
    throw new ApiError('not_found', `no node '${name}' (this node is '${this.local.name}')`);
  }

  /** The one node an action on one thing goes to (the first the request names). */
  one(query: Query): AdminNode {
    return this.select(query)[0]!;
  }
}
