/**
 * The measuring process of the independent check, started on the load core (its children inherit the core): runs
 * Mosquitto's own clients against a broker. `mosquitto_sub` prints one byte per message (`-F x -N`), which this
 * process counts and timestamps; `mosquitto_pub -l` publishes one message per line of a file on its stdin.
 * Prints one JSON line (IndependentResult).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SATURATED, type IndependentResult, type IndependentSpec } from './spec.js';

const HOST = '127.0.0.1';
/** The run is cut off this long after the publishers start, well inside the harness's bound on this process. */
const HARD_LIMIT_MS = 120_000;
/** /proc reports times in USER_HZ, which is 100 on Linux whatever the kernel's tick. */
const TICKS_PER_SECOND = 100;

const spec = JSON.parse(process.argv[2] ?? '{}') as IndependentSpec;
const filter = spec.topics === 'fan-in' ? 'bench/#' : 'bench/fanout';
const topicOf = (i: number): string => (spec.topics === 'fan-in' ? `bench/${i}/data` : 'bench/fanout');
const probeTopic = spec.topics === 'fan-in' ? 'bench/probe' : 'bench/fanout';
const common = ['-h', HOST, '-p', String(spec.port), '--nodelay'];

interface Subscriber {
  child: ChildProcess;
  /** Bytes printed, one per message, probes included. */
  printed: number;
}

let counting = false;
let received = 0;
let first = 0;
let last = 0;
const children = new Set<ChildProcess>();

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function start(command: string, args: string[], stdin: number | 'ignore'): { child: ChildProcess; stderr: () => string } {
  const child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, stderr: () => stderr };
}

function subscribe(): Subscriber {
  const { child } = start('mosquitto_sub', [...common, '-t', filter, '-q', String(spec.qos), '-F', 'x', '-N'], 'ignore');
  const sub: Subscriber = { child, printed: 0 };
  child.stdout!.on('data', (d: Buffer) => {
    sub.printed += d.length;
    if (!counting) return;
    const now = performance.now();
    if (received === 0) first = now;
    last = now;
    received += d.length;
  });
  return sub;
}

/** Publishes probes until every subscriber has printed one: then all subscriptions are in place. */
async function awaitSubscriptions(subs: Subscriber[]): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (subs.every((s) => s.printed > 0)) {
      // Lets a probe still on its way land before counting starts.
      await sleep(100);
      return;
    }
    const probe = start('mosquitto_pub', [...common, '-t', probeTopic, '-m', 'probe'], 'ignore');
    const code = await exited(probe.child);
    if (code !== 0) throw new Error(`probe mosquitto_pub exited with ${code}: ${probe.stderr()}`);
    await sleep(100);
  }
  throw new Error(`subscribers not ready after 100 probes (${subs.filter((s) => s.printed > 0).length} of ${subs.length})`);
}

/** Busy and total jiffies of each core so far, from /proc/stat (`cpuN user nice system idle iowait irq softirq steal`). */
function coreTimes(): Array<{ busy: number; total: number }> {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((line) => /^cpu\d+ /.test(line))
    .map((line) => {
      const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number) as number[];
      const busy = user! + nice! + system! + irq! + softirq! + steal!;
      return { busy, total: busy + idle! + iowait! };
    });
}

/** Fields of /proc/PID/stat after the command name: [0] is field 3 (state), so field n is at n - 3. */
function statFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds of this process's children that have exited and been reaped (cutime + cstime, fields 16 and 17). */
function reapedChildrenCpu(): number {
  const fields = statFields('self');
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
}

/** CPU seconds of the broker process, all its threads (utime + stime, fields 14 and 15). */
function brokerCpu(): number {
  const fields = statFields(spec.brokerPid);
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

async function run(dir: string): Promise<IndependentResult> {
  const lines = join(dir, 'lines.txt');
  writeFileSync(lines, `${'x'.repeat(64)}\n`.repeat(spec.messagesPerPublisher));
  const subs = Array.from({ length: spec.subscribers }, subscribe);
  await awaitSubscriptions(subs);

  const cpuBefore = reapedChildrenCpu();
  const coresBefore = coreTimes();
  let coresEnd = coresBefore;
  const brokerBefore = brokerCpu();
  let brokerEnd = brokerBefore;
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  counting = true;
  let lastExit = started;
  let running = spec.publishers;
  let failure: Error | undefined;
  for (let i = 0; i < spec.publishers; i++) {
    const fd = openSync(lines, 'r');
    const pub = start('mosquitto_pub', [...common, '-t', topicOf(i), '-q', String(spec.qos), '-M', String(spec.inflight), '-l'], fd);
    closeSync(fd);
    void exited(pub.child).then((code) => {
      lastExit = performance.now();
      running--;
      if (code !== 0) failure ??= new Error(`mosquitto_pub exited with ${code}: ${pub.stderr()}`);
    });
  }

  const expected = spec.publishers * spec.messagesPerPublisher * spec.subscribers;
  // Publishers exit once their last message is acknowledged (QoS 1/2) or written (QoS 0); then the run ends when
  // everything arrived, or after a quiet period when some never will.
  for (;;) {
    await sleep(20);
    if (failure !== undefined) throw failure;
    const now = performance.now();
    // The span ends at the last message or publisher exit, not after the quiet wait.
    if (now - Math.max(last, lastExit) < 50) {
      coresEnd = coreTimes();
      brokerEnd = brokerCpu();
    }
    if (running === 0 && (received >= expected || now - Math.max(last, lastExit) >= spec.quietMs)) break;
    if (now - started > HARD_LIMIT_MS) throw new Error(`run not over ${HARD_LIMIT_MS} ms after the publishers started`);
  }
  const end = Math.max(last, lastExit);
  const own = process.cpuUsage(ownBefore);
  const coresBusy = coresEnd.map((c, i) => (c.busy - coresBefore[i]!.busy) / (c.total - coresBefore[i]!.total || 1));
  for (const sub of subs) sub.child.kill('SIGTERM');
  await Promise.all(subs.map((s) => exited(s.child)));

  const cpu = reapedChildrenCpu() - cpuBefore + (own.user + own.system) / 1e6;
  const generatorCpu = cpu / ((end - started) / 1000);
  const milliseconds = last - first;
  return {
    expected,
    received,
    milliseconds,
    rate: milliseconds > 0 ? received / (milliseconds / 1000) : 0,
    loss: 1 - received / expected,
    generatorCpu,
    saturated: generatorCpu > SATURATED,
    coresBusy,
    brokerMicrosPerMessage: received > 0 ? ((brokerEnd - brokerBefore) * 1e6) / received : 0,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'culex-independent-'));
try {
  process.stdout.write(`${JSON.stringify(await run(dir))}\n`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
