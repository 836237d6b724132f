// Bundles the browser client (WebSocket transport only) into one ES module: dist/browser/culex.js.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildBrowser({ outfile = `${root}dist/browser/culex.js`, minify = true, sourcemap = true } = {}) {
  await build({
    entryPoints: [`${root}src/client/browser.ts`],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap,
    // The codec uses Node's Buffer string methods when they exist; a browser has none, so that branch goes.
    define: { 'globalThis.Buffer': 'undefined' },
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildBrowser();
  console.log(`wrote ${out}`);
}
