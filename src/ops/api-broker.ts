/** `GET /api/v1/broker` (version, uptime, listeners, limits, counts per node) and `POST /api/v1/reload`. */
import { version } from '../broker/internal.js';
import { ApiError } from './http-error.js';
import type { AdminNode, Nodes } from './nodes.js';
import { Query } from './query.js';
import type { Route } from './routes.js';

export interface BrokerInfo {
  node: string;
  version: string;
  nodeVersion: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  listeners: Array<{ name: string; host: string; port: number }>;
  limits: Record<string, number>;
  connectedClients: number;
  sessions: number;
  subscriptions: number;
  retainedMessages: number;
  storeFailing: boolean;
}

export function brokerInfo(node: AdminNode): BrokerInfo {
  const broker = node.broker;
  const startedAt = broker.stats.startedAt;
  return {
    node: node.name,
    version,
    nodeVersion: process.version,
    pid: process.pid,
    startedAt: new Date(startedAt).toISOString(),
    uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
    listeners: broker.boundListeners.map((l) => ({ name: l.name, host: l.host, port: l.port })),
    limits: { ...broker.limits },
    connectedClients: broker.connectedClients,
    sessions: broker.sessionCount,
    subscriptions: broker.subscriptionCount,
    retainedMessages: broker.retainedCount,
    storeFailing: broker.storeFailing,
  };
}

/**
 * `reload`, when given, re-reads what SIGHUP re-reads (password, ACL, device secrets and TLS files, and the admin
 * listener's own credentials); without it `POST /api/v1/reload` is 501.
 */
export function brokerRoutes(nodes: Nodes, reload: (() => Promise<void>) | undefined): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/broker',
      handle: (request) => ({ json: { items: nodes.select(new Query(request.query, [])).map(brokerInfo) } }),
    },
    {
      method: 'POST',
      path: '/api/v1/reload',
      handle: async (request) => {
        nodes.select(new Query(request.query, []));
        if (reload === undefined) throw new ApiError('not_implemented', 'this broker has nothing to reload');
        try {
          await reload();
        } catch (err) {
          throw new ApiError('conflict', `reload failed, the previous files stay in force: ${err instanceof Error ? err.message : String(err)}`);
        }
        return { json: { reloaded: true } };
      },
    },
  ];
}
