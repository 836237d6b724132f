/**
 * The Culex bench broker with V8's sampling heap profiler, counting objects that scavenges collect too (so the
 * profile is what the broker allocates, not what it keeps). SIGUSR1 starts sampling; SIGUSR2 stops it, writes the
 * allocation sites by bytes to the file named in CULEX_ALLOC_OUT as JSON, and exits. Run by bench/alloc/main.ts.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

interface SamplingNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: SamplingNode[];
}

/** Bytes allocated at a site: the innermost frames of its stack, innermost last. */
export interface AllocationSite {
  stack: string;
  bytes: number;
}

const out = process.env.CULEX_ALLOC_OUT;
if (out === undefined) throw new Error('CULEX_ALLOC_OUT is not set');
const session = new Session();
session.connect();
const post = <T>(method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
await post('HeapProfiler.enable');

process.on('SIGUSR1', () => {
  void post('HeapProfiler.startSampling', {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
});
process.on('SIGUSR2', () => {
  void post<{ profile: { head: SamplingNode } }>('HeapProfiler.stopSampling').then(({ profile }) => {
    const sites = new Map<string, number>();
    const walk = (node: SamplingNode, stack: string[]): void => {
      const file = node.callFrame.url.split('/').slice(-2).join('/');
      const frames = [...stack, `${node.callFrame.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`];
      if (node.selfSize > 0) {
        const key = frames.slice(-4).join(' < ');
        sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
      }
      for (const child of node.children) walk(child, frames);
    };
    walk(profile.head, []);
    const list: AllocationSite[] = [...sites].map(([stack, bytes]) => ({ stack, bytes })).sort((a, b) => b.bytes - a.bytes);
    writeFileSync(out, JSON.stringify(list));
    process.exit(0);
  });
});

await import('../brokers/culex.js');
