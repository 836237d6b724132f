/** Turns harness results into Markdown tables (printed and written to docs/benchmarks.md) and the chart's data. */
import type { ClientResult } from '../client/publisher.js';
import type { IdleResult, LatencyResult, LoadResult, RetainedResult, ThroughputResult } from '../load/spec.js';
import type { TargetName } from './processes.js';
import { targetLabel, type Results, type ScenarioResults } from './results.js';
import { summarise, type Summary } from './stats.js';

export interface ChartGroup {
  label: string;
  /** Culex's advantage (above 1 is better for Culex) over each reference. */
  bars: Array<{ against: string; value: number }>;
}

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const fixed = (digits: number) => (n: number): string => n.toFixed(digits);
export const percent = (n: number): string => `${(n * 100).toFixed(n < 0.01 ? 2 : 1)}%`;

export function range(s: Summary | undefined, format: (n: number) => string): string {
  if (s === undefined) return 'n/a';
  return s.min === s.max ? format(s.median) : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

export function ratio(a: Summary | undefined, b: Summary | undefined): number | undefined {
  if (a === undefined || b === undefined || b.median === 0) return undefined;
  return a.median / b.median;
}

export const times = (r: number | undefined): string => (r === undefined ? 'n/a' : `${r.toFixed(2)}x`);

function runsOf<T extends LoadResult>(sc: ScenarioResults, target: TargetName): T[] {
  return (sc.runs[target] ?? []) as T[];
}

function pick<T extends LoadResult>(sc: ScenarioResults, target: TargetName, value: (r: T) => number): Summary | undefined {
  return summarise(runsOf<T>(sc, target).map(value));
}

function saturated(sc: ScenarioResults, target: TargetName): boolean {
  return runsOf(sc, target).some((r) => r.saturated);
}

export function table(header: string[], rows: string[][]): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

const MAIN: TargetName[] = ['culex', 'aedes', 'mosquitto'];

function notes(sc: ScenarioResults, targets: TargetName[]): string {
  const parts: string[] = [];
  for (const t of targets) {
    const loss = pick<ThroughputResult>(sc, t, (r) => r.loss);
    if (loss !== undefined && loss.max > 0) parts.push(`${targetLabel[t]} loss ${percent(loss.median)}`);
    if (saturated(sc, t)) parts.push(`generator saturated with ${targetLabel[t]}`);
  }
  if (sc.errors.length > 0) parts.push(`${sc.errors.length} failed run(s)`);
  return parts.join('; ');
}

export class Report {
  readonly chart: ChartGroup[] = [];
  private readonly sections: string[] = [];
  private readonly targets: string[] = [];

  constructor(private readonly results: Results) {
    this.throughput();
    this.retained();
    this.latency();
    this.memory();
    this.persistent();
    this.client();
    this.errors();
  }

  /** The tables and the verdict on each target, as Markdown. */
  markdown(): string {
    const out = [...this.sections];
    if (this.targets.length > 0) out.push(`### Targets\n\n${table(['target', 'measured', 'met'], this.targets.map((t) => t.split('\t')))}`);
    return out.join('\n\n');
  }

  private scenario(id: string): ScenarioResults | undefined {
    return this.results.scenarios.find((s) => s.id === id);
  }

  private target(name: string, measured: string, met: boolean | undefined): void {
    this.targets.push(`${name}\t${measured}\t${met === undefined ? 'n/a' : met ? 'yes' : 'no'}`);
  }

  private throughput(): void {
    const ids = ['fanin-qos0', 'qos1', 'qos2-1', 'qos2-4', 'fanout'];
    const rows: string[][] = [];
    for (const id of ids) {
      const sc = this.scenario(id);
      if (sc === undefined) continue;
      const s = Object.fromEntries(MAIN.map((t) => [t, pick<ThroughputResult>(sc, t, (r) => r.rate)])) as Record<TargetName, Summary | undefined>;
      const vsMosquitto = ratio(s.culex, s.mosquitto);
      const vsAedes = ratio(s.culex, s.aedes);
      rows.push([sc.title, range(s.culex, int), range(s.aedes, int), range(s.mosquitto, int), times(vsMosquitto), times(vsAedes), notes(sc, MAIN)]);
      this.chart.push({ label: sc.title, bars: bars(vsMosquitto, vsAedes) });
      // Throughput bought by dropping acknowledged or written messages is shown next to the ratios.
      const loss = pick<ThroughputResult>(sc, 'culex', (r) => r.loss);
      const lossNote = loss !== undefined && loss.median > 0 ? ` (Culex loss ${percent(loss.median)})` : '';
      this.target(`${sc.title}: ≥ 1.0x Mosquitto, ≥ 3x Aedes`, `${times(vsMosquitto)}, ${times(vsAedes)}${lossNote}`,
        vsMosquitto === undefined || vsAedes === undefined ? undefined : vsMosquitto >= 1 && vsAedes >= 3);
    }
    if (rows.length === 0) return;
    this.sections.push(
      `### Throughput (messages per second received by the subscribers; median of rounds, min–max)\n\n` +
        table(['scenario', 'Culex', 'Aedes', 'Mosquitto', 'Culex ÷ Mosquitto', 'Culex ÷ Aedes', 'notes'], rows),
    );
  }

  private retained(): void {
    const sc = this.scenario('retained');
    if (sc === undefined) return;
    const rows = MAIN.filter((t) => sc.runs[t]?.length).map((t) => [
      targetLabel[t],
      range(pick<RetainedResult>(sc, t, (r) => r.rate), int),
      range(pick<RetainedResult>(sc, t, (r) => r.received), int),
      range(pick<RetainedResult>(sc, t, (r) => r.firstMilliseconds), int),
      range(pick<RetainedResult>(sc, t, (r) => r.milliseconds), int),
      range(pick<RetainedResult>(sc, t, (r) => r.storeRate), int),
    ]);
    const culex = pick<RetainedResult>(sc, 'culex', (r) => r.rate);
    const vsMosquitto = ratio(culex, pick<RetainedResult>(sc, 'mosquitto', (r) => r.rate));
    const vsAedes = ratio(culex, pick<RetainedResult>(sc, 'aedes', (r) => r.rate));
    this.chart.push({ label: `${int(this.results.settings.retainedMessages)} retained to a # subscriber`, bars: bars(vsMosquitto, vsAedes) });
    this.sections.push(
      `### ${int(this.results.settings.retainedMessages)} retained messages delivered to a \`#\` subscriber (QoS 0)\n\n` +
        `Stored first with QoS 1 publishes (window 100); then one client subscribes to \`#\`. Culex ÷ Mosquitto ${times(vsMosquitto)}, ` +
        `Culex ÷ Aedes ${times(vsAedes)}.\n\n` +
        table(['broker', 'delivered msg/s', 'messages received', 'ms to the first one', 'ms to the last one', 'retained publishes stored/s'], rows),
    );
  }

  private latency(): void {
    const rows: string[][] = [];
    for (const id of ['latency-qos0', 'latency-qos1']) {
      const sc = this.scenario(id);
      if (sc === undefined) continue;
      const p99 = Object.fromEntries(MAIN.map((t) => [t, pick<LatencyResult>(sc, t, (r) => r.p99)])) as Record<TargetName, Summary | undefined>;
      for (const t of MAIN) {
        if (!sc.runs[t]?.length) continue;
        const r = ratio(p99[t], p99.mosquitto);
        rows.push([
          `${sc.title}: ${targetLabel[t]}`,
          range(pick<LatencyResult>(sc, t, (x) => x.p50), fixed(3)),
          range(p99[t], fixed(3)),
          range(pick<LatencyResult>(sc, t, (x) => x.p999), fixed(3)),
          times(r),
          notes(sc, [t]),
        ]);
      }
      const vsMosquitto = ratio(p99.culex, p99.mosquitto);
      // Lower latency is better: the chart shows the reference's p99 over ours.
      this.chart.push({ label: `${sc.title}: p99`, bars: bars(invert(vsMosquitto), invert(ratio(p99.culex, p99.aedes))) });
      this.target(`${sc.title}: p99 ≤ 1.5x Mosquitto`, times(vsMosquitto), vsMosquitto === undefined ? undefined : vsMosquitto <= 1.5);
    }
    if (rows.length === 0) return;
    this.sections.push(
      `### Latency at ${int(this.results.settings.latencyRate)} msg/s (milliseconds, publisher to subscriber)\n\n` +
        table(['scenario', 'p50', 'p99', 'p99.9', 'p99 ÷ Mosquitto', 'notes'], rows),
    );
  }

  private memory(): void {
    const rows: string[][] = [];
    for (const id of ['idle-tcp', 'idle-tls', 'idle-ws']) {
      const sc = this.scenario(id);
      if (sc === undefined) continue;
      const per = Object.fromEntries(MAIN.map((t) => [t, pick<IdleResult>(sc, t, (r) => r.perConnection / 1024)])) as Record<TargetName, Summary | undefined>;
      for (const t of MAIN) {
        if (!sc.runs[t]?.length) continue;
        rows.push([
          `${sc.title}: ${targetLabel[t]}`,
          range(pick<IdleResult>(sc, t, (r) => r.connections), int),
          range(pick<IdleResult>(sc, t, (r) => r.connectRate), int),
          range(per[t], fixed(2)),
          times(ratio(per[t], per.mosquitto)),
          times(ratio(per[t], per.aedes)),
          notes(sc, [t]),
        ]);
      }
      this.chart.push({ label: `${sc.title}: RSS per connection`, bars: bars(invert(ratio(per.culex, per.mosquitto)), invert(ratio(per.culex, per.aedes))) });
      if (id === 'idle-tcp') {
        const kb = per.culex?.median;
        this.target('Idle TCP connection: ≤ 7.5 KB broker RSS', kb === undefined ? 'n/a' : `${kb.toFixed(2)} KB`, kb === undefined ? undefined : kb <= 7.5);
      }
    }
    if (rows.length === 0) return;
    this.sections.push(
      `### Idle connections (broker VmRSS after all connected and 1 s of rest, minus before, per connection)\n\n` +
        table(['transport: broker', 'connections', 'connects/s', 'KB per connection', '÷ Mosquitto', '÷ Aedes', 'notes'], rows),
    );
  }

  private persistent(): void {
    const sc = this.scenario('persistent-qos1');
    if (sc === undefined) return;
    const memory = pick<ThroughputResult>(sc, 'culex', (r) => r.rate);
    const rows = sc.targets.filter((t) => sc.runs[t]?.length).map((t) => {
      const s = pick<ThroughputResult>(sc, t, (r) => r.rate);
      return [targetLabel[t], range(s, int), times(ratio(s, memory)), notes(sc, [t])];
    });
    const store = ratio(pick<ThroughputResult>(sc, 'culex-store', (r) => r.rate), memory);
    this.chart.push({
      label: 'Persistent QoS 1: store vs in-memory Culex',
      bars: store === undefined ? [] : [{ against: 'Culex in memory', value: store }],
    });
    this.target('Persistent QoS 1 with the store: ≥ 0.5x in-memory Culex', times(store), store === undefined ? undefined : store >= 0.5);
    this.sections.push(
      `### Persistence: QoS 1 to a persistent subscriber (clean session off), window 100\n\n` +
        table(['broker', 'msg/s', '÷ Culex in memory', 'notes'], rows),
    );
  }

  private client(): void {
    if (this.results.client.length === 0) return;
    const rows = this.results.client.map((c) => {
      const cpu = (runs: ClientResult[]): Summary | undefined => summarise(runs.map((r) => r.cpuMicrosPerMessage));
      const rate = (runs: ClientResult[]): Summary | undefined => summarise(runs.map((r) => r.rate));
      const cpuRatio = ratio(cpu(c.culex), cpu(c.mqttjs));
      this.chart.push({ label: `Client QoS ${c.qos}: CPU per message`, bars: bars(undefined, undefined, invert(cpuRatio)) });
      this.target(`Client QoS ${c.qos}: ≤ 0.5x MQTT.js CPU per message`, times(cpuRatio), cpuRatio === undefined ? undefined : cpuRatio <= 0.5);
      return [`QoS ${c.qos}`, range(rate(c.culex), int), range(rate(c.mqttjs), int), range(cpu(c.culex), fixed(2)), range(cpu(c.mqttjs), fixed(2)), times(cpuRatio)];
    });
    this.sections.push(
      `### Client: Culex vs MQTT.js publishing to the same Mosquitto (64-byte payloads)\n\n` +
        table(['QoS', 'Culex msg/s', 'MQTT.js msg/s', 'Culex CPU µs/msg', 'MQTT.js CPU µs/msg', 'Culex ÷ MQTT.js CPU'], rows),
    );
  }

  private errors(): void {
    const lines = this.results.scenarios.flatMap((s) => s.errors.map((e) => `- ${s.title}: ${e}`));
    if (lines.length > 0) this.sections.push(`### Failed runs\n\n${lines.join('\n')}`);
  }
}

function invert(r: number | undefined): number | undefined {
  return r === undefined || r === 0 ? undefined : 1 / r;
}

function bars(vsMosquitto: number | undefined, vsAedes: number | undefined, vsMqttjs?: number): ChartGroup['bars'] {
  const out: ChartGroup['bars'] = [];
  if (vsMosquitto !== undefined) out.push({ against: 'Mosquitto', value: vsMosquitto });
  if (vsAedes !== undefined) out.push({ against: 'Aedes', value: vsAedes });
  if (vsMqttjs !== undefined) out.push({ against: 'MQTT.js', value: vsMqttjs });
  return out;
}
