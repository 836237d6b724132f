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

/** Bundles each entry (name → file relative to the root) to `.bench-out/bundle/<name>.mjs` and returns those paths. */
export async function bundleEntries<Name extends string>(root: string, entries: Record<Name, string>): Promise<Record<Name, string>> {
  const outdir = join(root, '.bench-out', 'bundle');
  const names = Object.keys(entries) as Name[];
  await build({
    entryPoints: Object.fromEntries(names.map((name) => [name, join(root, entries[name])])),
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
  return Object.fromEntries(names.map((name) => [name, join(outdir, `${name}.mjs`)])) as Record<Name, string>;
}

export function bundle(root: string): Promise<Bundles> {
  return bundleEntries(root, {
    culex: 'bench/brokers/culex.ts',
    aedes: 'bench/brokers/aedes.ts',
    generator: 'bench/load/generator.ts',
    clientPublisher: 'bench/client/publisher.ts',
  });
}
