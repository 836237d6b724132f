/**
 * The heaviest functions of a V8 CPU profile by self time, as shares of the busy (not idle) time:
 * `node --import tsx bench/harness/profile-top.ts FILE.cpuprofile [N]` (made by `BENCH_PROFILE=dir npm run bench`).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  name: string;
  selfMs: number;
  /** Share of the time the process was not idle. */
  share: number;
}

/** Pseudo-frames for time spent waiting, left out of the shares. */
const WAITING = new Set(['(idle)', '(program)']);

/** Total sampled time and the share of it spent running (not idle), for the header line. */
export function busyShare(profile: CpuProfile): { totalMs: number; busy: number } {
  const waiting = new Set(profile.nodes.filter((n) => WAITING.has(n.callFrame.functionName)).map((n) => n.id));
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    if (waiting.has(profile.samples[i]!)) idle += us;
  }
  return { totalMs: total / 1000, busy: total > 0 ? 1 - idle / total : 0 };
}

/** Self time per function (same name, file and line), heaviest first. */
export function topFrames(profile: CpuProfile): Frame[] {
  const frameOf = new Map<number, string>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? ` ${basename(url)}:${lineNumber + 1}` : '';
    frameOf.set(node.id, `${functionName || '(anonymous)'}${where}`);
  }
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0;
    const name = frameOf.get(profile.samples[i]!) ?? '?';
    self.set(name, (self.get(name) ?? 0) + us);
    if (!WAITING.has(name)) total += us;
  }
  return [...self.entries()]
    .filter(([name]) => !WAITING.has(name))
    .map(([name, us]) => ({ name, selfMs: us / 1000, share: total > 0 ? us / total : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs);
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: profile-top FILE.cpuprofile [N]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const { totalMs, busy } = busyShare(profile);
  process.stdout.write(`${totalMs.toFixed(0)} ms sampled, busy ${(busy * 100).toFixed(1)}%; self time as a share of busy time:\n`);
  const top = topFrames(profile).slice(0, Number(process.argv[3] ?? 30));
  for (const f of top) process.stdout.write(`${(f.share * 100).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}\n`);
}
