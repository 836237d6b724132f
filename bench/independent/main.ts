/**
 * `node --import tsx bench/independent/main.ts`: the harness's broker throughput scenarios again, with Mosquitto's
 * C clients (`mosquitto_pub`, `mosquitto_sub`, libmosquitto: one packet per system call) as the load instead of
 * the harness's batching generator. Brokers are started as the harness starts them, fresh for every run, on core 0;
 * the clients run on core 1. Prints the runs, then a Markdown table; writes BENCH_OUT/independent.json.
 *
 * Environment: BENCH_ROUNDS (default 3), BENCH_ONLY (comma-separated scenario ids), BENCH_BROKERS (culex, aedes,
 * mosquitto), BENCH_MESSAGES (lines per publisher instead of each scenario's own; at most 65,000 at QoS 1/2),
 * BENCH_OUT (default .bench-out), BENCH_FROM (an independent.json: only print its table).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle, bundleEntries, type Bundles } from '../harness/bundle.js';
import { describeMachine, type Machine } from '../harness/machine.js';
import { runPinned, startBroker, type RunningBroker } from '../harness/processes.js';
import { int, percent, range, ratio, table, times } from '../harness/report.js';
import { summarise } from '../harness/stats.js';
import { MAX_QOS12_LINES, scenarios, type IndependentScenario } from './scenarios.js';
import type { IndependentResult, IndependentSpec } from './spec.js';

type Broker = 'culex' | 'aedes' | 'mosquitto';
const BROKERS: Broker[] = ['culex', 'aedes', 'mosquitto'];
const label: Record<Broker, string> = { culex: 'Culex', aedes: 'Aedes', mosquitto: 'Mosquitto' };

interface ScenarioRuns {
  id: string;
  title: string;
  harnessId: string;
  spec: Omit<IndependentSpec, 'port' | 'brokerPid'>;
  runs: Partial<Record<Broker, IndependentResult[]>>;
  errors: string[];
}

interface IndependentResults {
  machine: Machine;
  loadAverageEnd: number;
  rounds: number;
  scenarios: ScenarioRuns[];
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const env = process.env;
const positive = (name: string): number | undefined => {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, not '${v}'`);
  return n;
};
const list = (name: string): string[] | undefined => env[name]?.split(',').map((s) => s.trim()).filter(Boolean);

const rounds = positive('BENCH_ROUNDS') ?? 3;
const messages = positive('BENCH_MESSAGES');
const only = list('BENCH_ONLY');
const brokers = BROKERS.filter((b) => list('BENCH_BROKERS')?.includes(b) ?? true);
const outDir = resolve(env.BENCH_OUT ?? join(root, '.bench-out'));
const QUIET_MS = 1000;

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function specOf(scenario: IndependentScenario): Omit<IndependentSpec, 'port' | 'brokerPid'> {
  let lines = messages ?? scenario.messagesPerPublisher;
  if (scenario.shape.qos > 0) lines = Math.min(lines, MAX_QOS12_LINES);
  return { ...scenario.shape, messagesPerPublisher: lines, quietMs: QUIET_MS };
}

function brief(r: IndependentResult): string {
  const cores = r.coresBusy.map((c, i) => `core ${i} ${(c * 100).toFixed(0)}%`).join(', ');
  const cpu = `generator ${(r.generatorCpu * 100).toFixed(0)}%${r.saturated ? ' SATURATED' : ''} (busy: ${cores})`;
  const broker = `broker ${r.brokerMicrosPerMessage.toFixed(2)} µs CPU/msg`;
  return `${int(r.rate)} msg/s, ${r.received}/${r.expected} in ${int(r.milliseconds)} ms, loss ${percent(r.loss)}, ${broker}, ${cpu}`;
}

async function runScenario(scenario: IndependentScenario, runner: string, bundles: Bundles): Promise<ScenarioRuns> {
  const spec = specOf(scenario);
  const out: ScenarioRuns = { id: scenario.id, title: scenario.title, harnessId: scenario.harnessId, spec, runs: {}, errors: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const target of brokers) {
      let broker: RunningBroker | undefined;
      try {
        broker = await startBroker(target, bundles);
        // The measuring process gives up 120 s after its publishers start.
        const r = await runPinned<IndependentResult>(runner, { ...spec, port: broker.port, brokerPid: broker.pid }, 180_000);
        (out.runs[target] ??= []).push(r);
        log(`  ${scenario.id} round ${round} ${label[target]}: ${brief(r)}`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        out.errors.push(`${label[target]}, round ${round}: ${message}`);
        log(`  ${scenario.id} round ${round} ${label[target]}: FAILED ${message}`);
      } finally {
        await broker?.stop();
      }
    }
  }
  return out;
}

function markdown(results: IndependentResults): string {
  const rate = (sc: ScenarioRuns, b: Broker) => summarise((sc.runs[b] ?? []).map((r) => r.rate));
  const rows = results.scenarios.map((sc) => {
    const notes: string[] = [];
    for (const b of brokers) {
      const runs = sc.runs[b] ?? [];
      const loss = summarise(runs.map((r) => r.loss));
      const lossy = runs.filter((r) => r.loss > 0).length;
      if (loss !== undefined && lossy > 0) notes.push(`${label[b]} loss ${range(loss, percent)} (${lossy}/${runs.length} runs)`);
      const saturated = runs.filter((r) => r.saturated).length;
      if (saturated > 0) notes.push(`generator saturated with ${label[b]} (${saturated}/${runs.length})`);
    }
    if (sc.errors.length > 0) notes.push(`${sc.errors.length} failed run(s)`);
    const each = (value: (r: IndependentResult) => number, format: (n: number) => string): string =>
      brokers.map((b) => range(summarise((sc.runs[b] ?? []).map(value)), format)).join(' / ');
    return [
      sc.title,
      ...brokers.map((b) => range(rate(sc, b), int)),
      times(ratio(rate(sc, 'culex'), rate(sc, 'mosquitto'))),
      times(ratio(rate(sc, 'culex'), rate(sc, 'aedes'))),
      each((r) => r.brokerMicrosPerMessage, (n) => n.toFixed(2)),
      each((r) => r.generatorCpu, (n) => `${(n * 100).toFixed(0)}%`),
      notes.join('; '),
    ];
  });
  const names = brokers.map((b) => label[b]).join(' / ');
  const header = ['scenario', ...brokers.map((b) => label[b]), 'Culex ÷ Mosquitto', 'Culex ÷ Aedes', `broker CPU µs/msg (${names})`, `generator CPU (${names})`, 'notes'];
  return table(header, rows);
}

async function main(): Promise<void> {
  if (env.BENCH_FROM) {
    process.stdout.write(`${markdown(JSON.parse(readFileSync(env.BENCH_FROM, 'utf8')) as IndependentResults)}\n`);
    return;
  }
  mkdirSync(outDir, { recursive: true });
  const machine = describeMachine(root);
  log(`${machine.pinning}; load average ${machine.loadAverage}`);
  const bundles = await bundle(root);
  const { measure } = await bundleEntries(root, { measure: 'bench/independent/measure.ts' });
  const results: IndependentResults = { machine, loadAverageEnd: 0, rounds, scenarios: [] };
  for (const scenario of scenarios) {
    if (only !== undefined && !only.includes(scenario.id)) continue;
    log(scenario.title);
    results.scenarios.push(await runScenario(scenario, measure, bundles));
  }
  results.loadAverageEnd = Math.round(loadavg()[0]! * 100) / 100;
  writeFileSync(join(outDir, 'independent.json'), JSON.stringify(results, null, 2));
  process.stdout.write(`${markdown(results)}\n`);
  log(`load average ${machine.loadAverage} at the start, ${results.loadAverageEnd} at the end; wrote ${join(outDir, 'independent.json')}`);
}

await main();
