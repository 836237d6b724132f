/** `GET /api/v1/alarms`: each node's active alarms and those cleared lately. */
import { alarmJson } from './alarms.js';
import type { Nodes } from './nodes.js';
import { Query } from './query.js';
import type { Route } from './routes.js';

export function alarmRoutes(nodes: Nodes): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/alarms',
      handle: (request) => {
        const selected = nodes.select(new Query(request.query, []));
        return {
          json: {
            items: selected.flatMap((node) => node.alarms.active().map((alarm) => ({ node: node.name, ...alarmJson(alarm) }))),
            history: selected.flatMap((node) => node.alarms.history().map((alarm) => ({ node: node.name, ...alarmJson(alarm) }))),
          },
        };
      },
    },
  ];
}
