// Data directories whose write-ahead log a killed process left, and the means to damage them as a disk would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../../src/broker/logger.js';
import { LevelStore } from '../../../src/broker/store/level-store.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The segment files in `dir`'s log, oldest first (names only). */
export function segments(dir: string): string[] {
  try {
    return readdirSync(join(dir, 'log')).filter((name) => name.endsWith('.log')).sort();
  } catch {
    return [];
  }
}

/** A script of this folder in a child process (`node --import tsx`), its output kept, given 30 s to end. */
function runChild(script: string, args: string[], onOut?: (out: string, kill: () => void) => void): Promise<{ signal: NodeJS.Signals | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const kill = (): void => void child.kill('SIGKILL');
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    onOut?.(out, kill);
  });
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`${script} not done in 30 s: ${err}`));
    }, 30_000);
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve({ signal, out, err });
    });
  });
}

/**
 * Writes a session (client `w`) and `count` queued messages (seq 1..count) in a child process that kills itself
 * with SIGKILL once they are written: only the log holds them, one record each (the session's first).
 */
export async function writeAndKill(dir: string, count: number): Promise<void> {
  const { signal, out, err } = await runChild('log-writer.ts', [dir, String(count)]);
  assert.ok(signal === 'SIGKILL' && out.includes('written'), `log writer: ${signal} ${out} ${err}`);
}

/**
 * Runs the store contract's crash workload on a LevelStore in `dir` in a child process and kills it with SIGKILL
 * once it reported `afterWrites` resolved writes; returns how many it had reported by then.
 */
export async function killWhileWriting(dir: string, afterWrites: number): Promise<number> {
  let acknowledged = 0;
  const { signal, out, err } = await runChild('contract-writer.ts', [dir], (out, kill) => {
    if (acknowledged >= afterWrites) return;
    // Complete lines only: the last one may still be arriving.
    const lines = out.slice(0, out.lastIndexOf('\n')).split('\n');
    const last = Number(lines.at(-1));
    if (Number.isInteger(last) && last >= afterWrites) {
      acknowledged = last;
      kill();
    }
  });
  assert.ok(signal === 'SIGKILL' && acknowledged >= afterWrites, `contract writer: ${signal} after ${out.slice(-40).trim()} ${err}`);
  return acknowledged;
}

/** Where each record of a segment starts, read by their length fields (the segment must be intact). */
export function recordStarts(data: Buffer): number[] {
  const starts: number[] = [];
  for (let pos = 8; pos < data.length; pos += 8 + data.readUInt32BE(pos)) starts.push(pos);
  return starts;
}

/** Changes the file at `path` with `damage` and returns the offsets of its records from before. */
export function damage(path: string, change: (data: Buffer, starts: number[]) => Buffer | void): number[] {
  const data = readFileSync(path);
  const starts = recordStarts(data);
  writeFileSync(path, change(data, starts) ?? data);
  return starts;
}

/** A logger that keeps its lines. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  return { lines, error: keep('error'), warn: keep('warn'), info: keep('info'), debug: keep('debug'), enabled: () => true };
}

/** The seqs of client `w`'s stored messages, read by opening the store (and closing it). */
export async function storedSeqs(dir: string, logger?: Logger): Promise<number[]> {
  const store = new LevelStore(dir, { logger: logger ?? recordingLogger() });
  await store.open();
  try {
    return (await store.loadSessions()).find((s) => s.session.clientId === 'w')?.outgoing.map((o) => o.seq) ?? [];
  } finally {
    await store.close();
  }
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
