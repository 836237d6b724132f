/**
 * The operations side of one broker: the admin HTTP listener with its routes (metrics, the admin API, OpenAPI),
 * put together from a broker and what the program running it can reload.
 */
import { hostname } from 'node:os';
import type { Bans } from '../auth/index.js';
import { silentLogger, type Broker, type Logger } from '../broker/index.js';
import { Alarms, type AlarmOptions, type OverloadState } from './alarms.js';
import { alarmRoutes } from './api-alarms.js';
import { ClusterForwarding, type ClusterPeers } from './cluster-forward.js';
import { banRoutes } from './api-bans.js';
import { bridgeRoutes, type BridgeControl } from './api-bridges.js';
import { brokerRoutes } from './api-broker.js';
import { dashboardRoutes, defaultDashboardDir } from './dashboard-routes.js';
import { clientRoutes } from './api-clients.js';
import { retainedRoutes } from './api-retained.js';
import { traceRoutes } from './api-traces.js';
import { OpsHttpServer, type HttpListenerOptions } from './http-server.js';
import type { BrokerMetrics } from './metrics.js';
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
  /**
   * The broker is a cluster node: requests naming other nodes (`node=NAME`, `node=all`) go to them through these
   * peers (cluster-forward.ts), and this node answers theirs.
   */
  peers?: ClusterPeers;
  /** Re-reads the broker's files as SIGHUP does (`POST /api/v1/reload`); the listener's credentials are re-read too. */
  reload?: () => Promise<void>;
  /**
   * The broker's alarms, when the program runs them (they publish on `$SYS` with or without this listener); else
   * the server runs its own with these thresholds while it is open.
   */
  alarms?: Alarms | AlarmOptions;
  /** The broker's ban list, managed under `/api/v1/bans`; without it those routes answer 501. */
  bans?: Bans;
  /** The broker's bridges, managed under `/api/v1/bridges`; without them those routes answer 501. */
  bridges?: BridgeControl;
  /** The overload monitor, for the `overload` alarm of the alarms this server runs itself (not of given ones). */
  overload?: OverloadState;
  /** Where the built dashboard is (index.html, app.js). Default dist/dashboard of this package. */
  dashboardDir?: string;
  logger?: Logger;
}

export class OpsServer {
  private constructor(
    private readonly server: OpsHttpServer,
    private readonly metrics: BrokerMetrics,
    private readonly traces: TraceRegistry,
    /** Alarms this server started (and stops); undefined when the program runs them. */
    private readonly ownAlarms: Alarms | undefined,
    private readonly reloadBroker: (() => Promise<void>) | undefined,
    private readonly forwarding: ClusterForwarding | undefined,
  ) {}

  static async start(options: OpsOptions): Promise<OpsServer> {
    const logger = options.logger ?? silentLogger;
    const traces = new TraceRegistry(options.broker);
    const alarms = options.alarms instanceof Alarms ? options.alarms : new Alarms(options.broker, options.alarms, { overload: options.overload });
    const ownAlarms = alarms === options.alarms ? undefined : alarms;
    const name = options.nodeName ?? hostname();
    const nodes = new Nodes({ name, broker: options.broker, traces, alarms, bans: options.bans });
    const routes = new RouteTable();
    let server: OpsHttpServer | undefined;
    const reload = async (): Promise<void> => {
      await Promise.all([server?.credentials.reload(), options.reload?.()]);
    };
    // prom-client is loaded only here, when an admin listener starts: merely loaded, it cost a broker without one
    // about 40% of its batched QoS 1 throughput, in garbage collection (docs/benchmarks.md, "Metrics cost").
    const { BrokerMetrics } = await import('./metrics.js');
    const metrics = new BrokerMetrics(options.broker, alarms);
    routes.add(
      metrics.route(options.http.publicMetrics ?? false),
      ...brokerRoutes(nodes, reload),
      ...clientRoutes(nodes),
      ...retainedRoutes(nodes),
      ...traceRoutes(nodes),
      ...alarmRoutes(nodes),
      ...banRoutes(nodes),
      ...bridgeRoutes(options.bridges),
      ...dashboardRoutes(options.dashboardDir ?? defaultDashboardDir),
    );
    routes.add(openApiRoute(routes));
    const forwarding = options.peers === undefined ? undefined : new ClusterForwarding(name, options.peers, routes);
    server = await OpsHttpServer.start(options.http, routes, logger, forwarding);
    forwarding?.open();
    metrics.attach();
    ownAlarms?.start();
    return new OpsServer(server, metrics, traces, ownAlarms, options.reload, forwarding);
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
    this.forwarding?.close();
    this.metrics.detach();
    this.traces.close();
    this.ownAlarms?.stop();
    await this.server.close();
  }
}
