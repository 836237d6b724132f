/**
 * The operations side of one broker: the admin HTTP listener with its routes (metrics, the admin API, OpenAPI),
 * put together from a broker and what the program running it can reload.
 */
import { hostname } from 'node:os';
import { silentLogger, type Broker, type Logger } from '../broker/index.js';
import { brokerRoutes } from './api-broker.js';
import { clientRoutes } from './api-clients.js';
import { retainedRoutes } from './api-retained.js';
import { traceRoutes } from './api-traces.js';
import { OpsHttpServer, type HttpListenerOptions } from './http-server.js';
import { BrokerMetrics } from './metrics.js';
import { Nodes } from './nodes.js';
import { openApiRoute } from './openapi.js';
import { RouteTable } from './routes.js';
import { TraceRegistry } from './trace.js';

export interface OpsOptions {
  broker: Broker;
  http: HttpListenerOptions & {
    /** `GET /metrics` answered without credentials (for a Prometheus without them). Default false. */
    publicMetrics?: boolean;
  };
  /** This node's name in answers. Default: the host name. */
  nodeName?: string;
  /** The broker is a cluster node (`node=all` is then not answered yet). */
  clustered?: boolean;
  /** Re-reads the broker's files as SIGHUP does (`POST /api/v1/reload`); the listener's credentials are re-read too. */
  reload?: () => Promise<void>;
  logger?: Logger;
}

export class OpsServer {
  private constructor(
    private readonly server: OpsHttpServer,
    private readonly metrics: BrokerMetrics,
    private readonly traces: TraceRegistry,
    private readonly reloadBroker: (() => Promise<void>) | undefined,
  ) {}

  static async start(options: OpsOptions): Promise<OpsServer> {
    const logger = options.logger ?? silentLogger;
    const traces = new TraceRegistry(options.broker);
    const nodes = new Nodes({ name: options.nodeName ?? hostname(), broker: options.broker, traces }, options.clustered ?? false);
    const routes = new RouteTable();
    let server: OpsHttpServer | undefined;
    const reload = async (): Promise<void> => {
      await Promise.all([server?.credentials.reload(), options.reload?.()]);
    };
    const metrics = new BrokerMetrics(options.broker);
    routes.add(
      metrics.route(options.http.publicMetrics ?? false),
      ...brokerRoutes(nodes, reload),
      ...clientRoutes(nodes),
      ...retainedRoutes(nodes),
      ...traceRoutes(nodes),
    );
    routes.add(openApiRoute(routes));
    server = await OpsHttpServer.start(options.http, routes, logger);
    metrics.attach();
    return new OpsServer(server, metrics, traces, options.reload);
  }

  get port(): number {
    return this.server.port;
  }

  get url(): string {
    return this.server.url;
  }

  /** Re-reads the listener's password and tokens files and, when given, the broker's files. */
  async reload(): Promise<void> {
    await Promise.all([this.server.credentials.reload(), this.reloadBroker?.()]);
  }

  async close(): Promise<void> {
    this.metrics.detach();
    this.traces.close();
    await this.server.close();
  }
}
