/**
 * Culex as the harness runs it: an embedded Broker, $SYS off, silent, on ports chosen by the system; with
 * BENCH_CULEX_METRICS=1 also its Prometheus metrics.
 */
import { readFileSync } from 'node:fs';
import { Broker, silentLogger, type BrokerListenerOptions } from '../../src/broker/index.js';
import { LevelStore } from '../../src/broker/store/level-store.js';
import { announce, readConfig } from './broker-config.js';

const config = readConfig();
const listeners: BrokerListenerOptions[] = [{ host: '127.0.0.1', port: 0 }];
if (config.tls) {
  listeners.push({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) },
  });
}
if (config.websockets) listeners.push({ host: '127.0.0.1', port: 0, protocol: 'websockets', path: '/mqtt' });
const broker = new Broker({
  listeners,
  sysInterval: 0,
  logger: silentLogger,
  limits: config.limits,
  store: config.dataDir === undefined ? undefined : new LevelStore(config.dataDir, { fsync: config.fsync ?? false }),
});
// BENCH_CULEX_PRELOAD=FILE,...: modules loaded first, to find what merely loading code costs the broker
// (docs/benchmarks.md, "Metrics cost").
for (const module of (process.env['BENCH_CULEX_PRELOAD'] ?? '').split(',').filter(Boolean)) await import(module);
// BENCH_CULEX_METRICS=1: with the metrics of culex/ops attached, as `culex broker --http` runs (their cost measured).
// Loaded from the build at run time (`npm run build` first), not bundled: a bundle would import prom-client
// unconditionally, and merely loading it slows the broker (src/ops/ops-server.ts).
if (process.env['BENCH_CULEX_METRICS'] === '1') {
  const built = new URL('../../dist/ops/metrics.js', import.meta.url).href;
  const { BrokerMetrics } = (await import(built)) as typeof import('../../src/ops/metrics.js');
  new BrokerMetrics(broker).attach();
}
await broker.listen();
const [port, ...rest] = broker.ports;
announce(
  {
    port: port!,
    tlsPort: config.tls ? rest.shift() : undefined,
    wsPort: config.websockets ? rest.shift() : undefined,
  },
  () => broker.close(),
);
