// The CommonJS build, for `require('culex/...')` on every Node 20 (require of ES modules needs 20.19) and for
// TypeScript projects compiled to CommonJS: each module of src/ (but the command line, which stays ESM) becomes
// dist/cjs/<same path>.js, under a package.json saying "commonjs", next to a copy of its declarations from dist/
// (run `tsc -b` first), which TypeScript then reads as CommonJS declarations.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function files(dir, suffix) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path, suffix) : path.endsWith(suffix) ? [path] : [];
  });
}

const ESM_TWIN_URL = `const importMetaUrl = (() => {
  const { sep } = require('node:path');
  const at = __filename.lastIndexOf(sep + 'cjs' + sep);
  return require('node:url').pathToFileURL(__filename.slice(0, at) + __filename.slice(at + 4)).href;
})();`;

export async function buildCjs() {
  const src = join(root, 'src');
  const out = join(root, 'dist/cjs');
  const parts = readdirSync(src).filter((name) => name !== 'cli' && statSync(join(src, name)).isDirectory());
  const entryPoints = parts.flatMap((part) => files(join(src, part), '.ts'));
  await build({
    entryPoints,
    outdir: out,
    outbase: src,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    bundle: false,
    sourcemap: false,
    // A module that finds a file relative to itself (import.meta.url) sees the path of its ESM twin in dist/, so
    // that `../../package.json` means the same in both builds.
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: ESM_TWIN_URL },
    logLevel: 'warning',
  });
  writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n');
  for (const part of parts) {
    for (const declaration of files(join(root, 'dist', part), '.d.ts')) {
      const target = join(out, relative(join(root, 'dist'), declaration));
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(declaration, target);
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`wrote ${await buildCjs()}`);
}
