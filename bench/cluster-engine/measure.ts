/** Measuring tools for the cluster-engine benchmark: CPU of this process and of the servers, pipelines, payloads. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process (all its threads) in microseconds, from /proc; 0 when it is gone. */
function processCpuMicros(pid: number): number {
  try {
    // Fields after the command name, which is in parentheses and may contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export interface Usage {
  seconds: number;
  /** CPU microseconds of this process (user + system). */
  clientMicros: number;
  /** CPU microseconds of all the servers together (10 ms resolution). */
  serverMicros: number;
}

/** Starts counting elapsed time and CPU; the returned function reads the totals since. */
export function startUsage(serverPids: number[]): () => Usage {
  const began = performance.now();
  const client = process.cpuUsage();
  const servers = serverPids.map(processCpuMicros);
  return () => {
    const used = process.cpuUsage(client);
    return {
      seconds: (performance.now() - began) / 1000,
      clientMicros: used.user + used.system,
      serverMicros: serverPids.reduce((sum, pid, i) => sum + processCpuMicros(pid) - servers[i]!, 0),
    };
  };
}

/**
 * Runs `operation(i)` for i = 0, 1, ... keeping `window` in flight, until `limit` operations were started or
 * `seconds` passed; resolves with how many completed once every started one has finished. A failure ends it.
 */
export async function pipeline(window: number, limit: number, seconds: number, operation: (i: number) => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let started = 0;
  let done = 0;
  return new Promise<number>((resolve, reject) => {
    let failed = false;
    const next = (): void => {
      if (failed) return;
      if (started < limit && performance.now() < deadline) {
        const i = started++;
        operation(i).then(() => {
          done++;
          next();
        }, (error: unknown) => {
          failed = true;
          reject(error instanceof Error ? error : new Error(String(error)));
        });
      } else if (done === started) {
        resolve(done);
      }
    };
    for (let i = 0; i < window; i++) next();
  });
}

/** A deterministic generator (xorshift32), so runs are comparable. */
export function makeRandom(seed = 42): (n: number) => number {
  let s = seed;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return Math.floor(((s >>> 0) / 0x100000000) * n);
  };
}

/** MQTT-sized messages: telemetry topics and payloads of 64 to 200 bytes (views of one random pool). */
export class MessageSource {
  private readonly pool = Buffer.alloc(1 << 18);
  private readonly random = makeRandom();
  private readonly topics: Buffer[];

  constructor() {
    for (let i = 0; i < this.pool.length; i++) this.pool[i] = this.random(256);
    this.topics = Array.from({ length: 1000 }, (_, i) => Buffer.from(`site${i % 50}/dev${i}/temperature`));
  }

  payload(): Buffer {
    const size = 64 + this.random(137);
    const at = this.random(this.pool.length - size);
    return this.pool.subarray(at, at + size);
  }

  /**
   * K messages framed into one buffer, as a node would batch them into one JetStream message:
   * per message [u16 topic length][topic][u32 payload length][payload].
   */
  batch(k: number): Buffer {
    const parts: Buffer[] = [];
    let size = 0;
    for (let i = 0; i < k; i++) {
      const topic = this.topics[this.random(this.topics.length)]!;
      const payload = this.payload();
      parts.push(topic, payload);
      size += 6 + topic.length + payload.length;
    }
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (let i = 0; i < parts.length; i += 2) {
      const topic = parts[i]!;
      const payload = parts[i + 1]!;
      at = out.writeUInt16BE(topic.length, at);
      at += topic.copy(out, at);
      at = out.writeUInt32BE(payload.length, at);
      at += payload.copy(out, at);
    }
    return out;
  }
}

/** Pins a process (all threads) to one core when taskset is there; returns whether it did. */
export function pin(pid: number, core: number): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' }).status === 0;
}
