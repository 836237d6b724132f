// Builds the admin dashboard (src/ops/dashboard) into dist/dashboard: its page, its bundled script, and the
// browser client its MQTT console loads, which the admin listener serves at / (src/ops/dashboard-routes.ts).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBrowser } from './build-browser.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildDashboard({ outdir = `${root}dist/dashboard` } = {}) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(root, 'src/ops/dashboard/app.ts')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    logLevel: 'warning',
  });
  // The console's MQTT client is Culex's own browser build, served beside the page (no map: nothing to debug there).
  await buildBrowser({ outfile: join(outdir, 'culex.js'), sourcemap: false });
  copyFileSync(join(root, 'src/ops/dashboard/index.html'), join(outdir, 'index.html'));
  return outdir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`wrote ${await buildDashboard()}`);
}
