/**
 * The node the admin interface's views and actions work on. Every view and action takes a `node` parameter: on a
 * cluster node, requests naming other nodes or `all` are sent to them before they get here (cluster-forward.ts),
 * so what reaches a view is this node's part.
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
  constructor(readonly local: AdminNode) {}

  /**
   * The nodes a request names: this node when `node` is absent, `local`, its name or `all` (without a cluster, or
   * this node's part of a cluster-wide list). Another name is 404.
   */
  select(query: Query): AdminNode[] {
    const name = query.string('node');
    if (name === undefined || name === 'local' || name === this.local.name || name === 'all') return [this.local];
    throw new ApiError('not_found', `no node '${name}' (this node is '${this.local.name}')`);
  }

  /** The one node an action on one thing goes to (the first the request names). */
  one(query: Query): AdminNode {
    return this.select(query)[0]!;
  }
}
