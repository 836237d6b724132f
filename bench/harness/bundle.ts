/**
 * Bundles the processes the harness starts (brokers, load generator, client publisher) with esbuild, so that
 * each starts in milliseconds and runs plain JavaScript without a loader thread (cleaner CPU profiles too).
 * npm packages stay external and load from node_modules. The output sits two levels below the project root, as
 * src/ files do, so that their relative reads (../../package.json) still find their file.
 */
import { build } from 'esbuild';
import { join } from 'node:path';

export interface Bundles {
  culex: string;
  aedes: string;
  generator: string;
  clientPublisher: string;
}

export async function bundle(root: string): Promise<Bundles> {
  const outdir = join(root, '.bench-out', 'bundle');
  const entries = {
    culex: 'bench/brokers/culex.ts',
    aedes: 'bench/brokers/aedes.ts',
    generator: 'bench/load/generator.ts',
    clientPublisher: 'bench/client/publisher.ts',
  };
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, join(root, file)])),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'error',
  });
  return {
    culex: join(outdir, 'culex.mjs'),
    aedes: join(outdir, 'aedes.mjs'),
    generator: join(outdir, 'generator.mjs'),
    clientPublisher: join(outdir, 'clientPublisher.mjs'),
  };
}
