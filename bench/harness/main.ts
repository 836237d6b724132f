/**
 * `npm run bench`: brokers side by side (Culex, Aedes, Mosquitto), the client against MQTT.js, codec and topic
 * matching. Each scenario runs against each broker in turn, round after round, every broker started fresh.
 *
 * Environment: BENCH_SECONDS (measured seconds per run, default 3), BENCH_WARMUP (default 1), BENCH_ROUNDS
 * (default 3), BENCH_LATENCY_SECONDS and BENCH_LATENCY_ROUNDS (latency runs: default twice BENCH_SECONDS, and
 * BENCH_ROUNDS + 2), BENCH_ONLY (comma-separated scenario ids, `client`, `codec`, `topic`), BENCH_BROKERS (comma-separated
 * targets), BENCH_IDLE (idle TCP connections, default 10000), BENCH_IDLE_TLS (TLS and WebSocket, default 2000),
 * BENCH_RETAINED (default 100000), BENCH_PROFILE (directory: CPU-profile every Culex broker run), BENCH_DOCS=0
 * (do not touch docs/), BENCH_OUT (results directory, default .bench-out), BENCH_CULEX_LIMITS (JSON of Culex limits
 * to try, e.g. '{"maxInflight":100}'; the report names them), BENCH_FROM (a results.json: only rewrite the report).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientResult, ClientSpec } from '../client/publisher.js';
import type { LoadResult } from '../load/spec.js';
import { makeCerts } from '../../test/helpers/certs.js';
import { bundle, type Bundles } from './bundle.js';
import { chartSvg } from './chart.js';
import { describeMachine } from './machine.js';
import { runPinned, startBroker, type RunningBroker, type StartOptions } from './processes.js';
import { Report } from './report.js';
import { targetLabel, type ClientResults, type Results, type ScenarioResults } from './results.js';
import { scenarios, type Scenario, type Settings } from './scenarios.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const env = process.env;
const number = (name: string, fallback: number): number => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not '${v}'`);
  return n;
};
const list = (name: string): Set<string> | undefined =>
  env[name] ? new Set(env[name]!.split(',').map((s) => s.trim()).filter(Boolean)) : undefined;

const settings: Settings = {
  seconds: number('BENCH_SECONDS', 3),
  warmupSeconds: number('BENCH_WARMUP', 1),
  idleConnections: number('BENCH_IDLE', 10_000),
  idleTlsConnections: number('BENCH_IDLE_TLS', 2_000),
  retainedMessages: number('BENCH_RETAINED', 100_000),
  latencyRate: 5_000,
  latencySeconds: number('BENCH_LATENCY_SECONDS', 2 * number('BENCH_SECONDS', 3)),
};
const rounds = number('BENCH_ROUNDS', 3);
/**
 * The latency scenarios run longer and in more rounds: a p99 over 15,000 samples moved by a factor of three from
 * round to round on these machines for every broker, and the median of more, longer rounds moves less.
 */
const latencyRounds = number('BENCH_LATENCY_ROUNDS', rounds + 2);
const only = list('BENCH_ONLY');
const brokers = list('BENCH_BROKERS');
const profileDir = env.BENCH_PROFILE ? resolve(env.BENCH_PROFILE) : undefined;
const outDir = resolve(env.BENCH_OUT ?? join(root, '.bench-out'));
const writeDocs = env.BENCH_DOCS !== '0';
const culexLimits = env.BENCH_CULEX_LIMITS ? (JSON.parse(env.BENCH_CULEX_LIMITS) as Record<string, number>) : undefined;
const selected = (id: string): boolean => only === undefined || only.has(id);

const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Generous bound on one generator run, so that a stuck broker cannot hang the harness. */
function runTimeoutMs(scenario: Scenario): number {
  if (scenario.metric === 'memory') return 180_000;
  if (scenario.id === 'retained') return 300_000;
  return (settings.warmupSeconds + Math.max(settings.seconds, settings.latencySeconds)) * 1000 + 60_000;
}

async function runScenario(scenario: Scenario, bundles: Bundles): Promise<ScenarioResults> {
  const targets = scenario.targets.filter((t) => brokers === undefined || brokers.has(t));
  const result: ScenarioResults = { id: scenario.id, title: scenario.title, metric: scenario.metric, targets, runs: {}, errors: [] };
  const options: StartOptions = culexLimits === undefined ? {} : { culexLimits };
  if (scenario.listeners?.tls) {
    const certs = await makeCerts();
    options.tls = { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile };
  }
  if (scenario.listeners?.websockets) options.websockets = true;
  const scenarioRounds = scenario.metric === 'latency' ? latencyRounds : rounds;
  for (let round = 1; round <= scenarioRounds; round++) {
    for (const target of targets) {
      const profiled = profileDir !== undefined && target.startsWith('culex');
      if (profiled) mkdirSync(join(profileDir!, scenario.id), { recursive: true });
      let broker: RunningBroker | undefined;
      try {
        broker = await startBroker(target, bundles, profiled ? { ...options, profileDir: join(profileDir!, scenario.id) } : options);
        const r = await runPinned<LoadResult>(bundles.generator, scenario.spec(broker, settings), runTimeoutMs(scenario));
        (result.runs[target] ??= []).push(r);
        log(`  ${scenario.id} round ${round} ${targetLabel[target]}: ${brief(r)}`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        result.errors.push(`${targetLabel[target]}, round ${round}: ${message}`);
        log(`  ${scenario.id} round ${round} ${targetLabel[target]}: FAILED ${message}`);
      } finally {
        await broker?.stop();
      }
    }
  }
  return result;
}

function brief(r: LoadResult): string {
  const cpu = `generator ${(r.generatorCpu * 100).toFixed(0)}%${r.saturated ? ' SATURATED' : ''}`;
  switch (r.kind) {
    case 'throughput':
      return `${Math.round(r.rate)} msg/s, loss ${(r.loss * 100).toFixed(2)}%, ${cpu}`;
    case 'latency':
      return `p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)} p99.9 ${r.p999.toFixed(3)} ms (${r.samples} samples), ${cpu}`;
    case 'idle':
      return `${r.connections} connections, ${Math.round(r.connectRate)}/s, ${(r.perConnection / 1024).toFixed(2)} KB each, ${cpu}`;
    case 'retained':
      return `${r.received} in ${Math.round(r.milliseconds)} ms = ${Math.round(r.rate)} msg/s, ${cpu}`;
  }
}

async function runClient(bundles: Bundles): Promise<ClientResults[]> {
  const out: ClientResults[] = [
    { qos: 0, culex: [], mqttjs: [] },
    { qos: 1, culex: [], mqttjs: [] },
  ];
  for (let round = 1; round <= rounds; round++) {
    const mosquitto = await startBroker('mosquitto', bundles);
    try {
      for (const entry of out) {
        for (const lib of ['culex', 'mqttjs'] as const) {
          const spec: ClientSpec = {
            lib,
            qos: entry.qos,
            port: mosquitto.port,
            window: entry.qos === 0 ? 1000 : 100,
            warmupSeconds: settings.warmupSeconds,
            seconds: settings.seconds,
          };
          const r = await runPinned<ClientResult>(bundles.clientPublisher, spec, (settings.seconds + settings.warmupSeconds) * 1000 + 30_000);
          entry[lib].push(r);
          log(`  client QoS ${entry.qos} round ${round} ${lib}: ${Math.round(r.rate)} msg/s, ${r.cpuMicrosPerMessage.toFixed(2)} µs CPU/msg`);
        }
      }
    } finally {
      await mosquitto.stop();
    }
  }
  return out;
}

function runScript(file: string): string {
  const run = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (run.status !== 0) return `${file} failed: ${run.stderr}`;
  return run.stdout.trim();
}

const MARKER = '<!-- Everything below is written by `npm run bench` (bench/harness/main.ts); edit above this line. -->';

function docsSection(results: Results, tables: string): string {
  const m = results.machine;
  const s = results.settings;
  return [
    MARKER,
    '',
    '## Brokers and clients (latest `npm run bench`)',
    '',
    '![Culex relative to Mosquitto, Aedes and MQTT.js](benchmarks.svg)',
    '',
    `Machine: ${m.cores} cores (\`nproc\`), ${m.cpuModel}, ${m.memoryGiB} GiB; Node ${m.node}, Mosquitto ${m.mosquitto}, ` +
      `Aedes ${m.aedes}, MQTT.js ${m.mqttjs}; ${m.date}. Command: \`${results.command}\`. \`ulimit -n\` ${m.openFiles}; ` +
      `pinning: ${m.pinning}. 1-minute load average ${m.loadAverage} at the start and ${results.loadAverageEnd ?? 'n/a'} ` +
      `at the end (above 2 on this machine means other work competed for the same cores and figures are lower and noisier).`,
    '',
    `Each scenario ran against each broker in turn, ${results.rounds} round(s), every broker started fresh for every run ` +
      `(Culex embedded with \`sysInterval: 0\` and a silent logger, no store` +
      `${results.culexLimits ? `, limits ${JSON.stringify(results.culexLimits)}` : ', default limits'}; Aedes ${m.aedes} with its in-memory ` +
      `persistence on \`net.createServer({ noDelay: true }, aedes.handle)\`; Mosquitto ${m.mosquitto} with ` +
      `\`persistence false\` and \`set_tcp_nodelay true\`). ` +
      `Throughput runs warm up ${s.warmupSeconds} s and measure ${s.seconds} s, counting at the subscribers; ` +
      `latency runs measure ${s.latencySeconds} s in ${results.latencyRounds ?? results.rounds} round(s); ` +
      `64-byte payloads, MQTT 3.1.1. The load generator is one Node process writing pre-encoded packets on raw sockets ` +
      `in batches; a note says when it used more than 90% of its core (the figure may then be the generator's limit).`,
    '',
    tables,
    '',
    ...(results.codec ? ['### Codec (bench/codec.ts, this run)', '', '```', results.codec, '```', ''] : []),
    ...(results.topic ? ['### Topic matching (bench/topic.ts, this run)', '', '```', results.topic, '```', ''] : []),
  ].join('\n');
}

function writeDocsFiles(results: Results, report: Report): void {
  const docs = join(root, 'docs', 'benchmarks.md');
  const current = readFileSync(docs, 'utf8');
  const at = current.indexOf(MARKER);
  const kept = (at >= 0 ? current.slice(0, at) : current).trimEnd();
  writeFileSync(docs, `${kept}\n\n${docsSection(results, report.markdown())}`);
  const subtitle = `${results.machine.cpuModel}, ${results.machine.cores} cores, ${results.machine.date}; medians of ${results.rounds} round(s)`;
  writeFileSync(join(root, 'docs', 'benchmarks.svg'), chartSvg(report.chart, subtitle));
  log(`wrote docs/benchmarks.md and docs/benchmarks.svg`);
}

function report(results: Results): void {
  const report = new Report(results);
  process.stdout.write(`${report.markdown()}\n`);
  writeFileSync(join(outDir, 'benchmarks.svg'), chartSvg(report.chart, results.machine.date));
  if (writeDocs) writeDocsFiles(results, report);
}

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  if (env.BENCH_FROM) {
    report(JSON.parse(readFileSync(env.BENCH_FROM, 'utf8')) as Results);
    return;
  }
  const machine = describeMachine(root);
  log(`ulimit -n: ${machine.openFiles}; ${machine.pinning}`);
  const bundles = await bundle(root);
  const results: Results = {
    machine,
    settings,
    rounds,
    latencyRounds,
    command: env.BENCH_COMMAND ?? 'npm run bench',
    culexLimits,
    scenarios: [],
    client: [],
  };
  for (const scenario of scenarios) {
    if (!selected(scenario.id)) continue;
    log(`${scenario.title}`);
    results.scenarios.push(await runScenario(scenario, bundles));
  }
  if (selected('client')) {
    log('Client: Culex vs MQTT.js against Mosquitto');
    results.client = await runClient(bundles);
  }
  if (selected('codec')) {
    log('Codec (bench/codec.ts)');
    results.codec = runScript('bench/codec.ts');
    process.stdout.write(`${results.codec}\n\n`);
  }
  if (selected('topic')) {
    log('Topic matching (bench/topic.ts)');
    results.topic = runScript('bench/topic.ts');
    process.stdout.write(`${results.topic}\n\n`);
  }
  results.loadAverageEnd = Math.round(loadavg()[0]! * 100) / 100;
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(results, null, 2));
  report(results);
}

await main();
