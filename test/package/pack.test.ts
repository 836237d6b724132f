/**
 * The package as a user gets it: built, packed with `npm pack`, and installed into a fresh project, where ES
 * module, CommonJS and TypeScript programs (each `module` setting, each package type) use it by name.
 *
 * Offline: the tarball is unpacked into the project's node_modules/culex as npm would place it, and each dependency
 * that package.json declares (and only those) is linked there from this repository's node_modules, already
 * installed from the registry. A dependency missing from package.json, a file missing from `files`, an entry that
 * resolves to nothing or types that do not resolve all fail here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;
const tsc = join(root, 'node_modules/typescript/bin/tsc');

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string }>;
}

/** Every package entry by name, and a name it exports. */
const entries: Record<string, string> = {
  culex: 'connect',
  'culex/client': 'createClient',
  'culex/mqtt': 'connectAsync',
  'culex/broker': 'LevelStore',
  'culex/broker/testing': 'runStoreContract',
  'culex/packet': 'PacketParser',
  'culex/topic': 'matches',
  'culex/transport': 'dialTcp',
  'culex/credentials': 'azureCredentials',
  'culex/auth': 'FileAuth',
  'culex/config': 'loadBrokerConfig',
  'culex/cluster': 'ClusterNode',
  'culex/registry': 'DeviceRegistry',
  'culex/iothub': 'createIotHub',
  'culex/dialects': 'tencentProfile',
  'culex/bridge': 'BridgeManager',
};

/** A program that uses the package as its README shows: an embedded broker and an MQTT.js-style client. */
const roundTrip = (load: (name: string) => string): string => `
  const mqtt = ${load('culex/mqtt')};
  const { Broker } = ${load('culex/broker')};
  const names = ${JSON.stringify(entries)};
  const missing = [];
  for (const [name, symbol] of Object.entries(names)) if (!(${load('name')})[symbol]) missing.push(name);
  const broker = new Broker({ listeners: [{ port: 0 }], sysInterval: 0 });
  await broker.listen();
  const client = await (mqtt.default ?? mqtt).connectAsync('mqtt://127.0.0.1:' + broker.port);
  await client.subscribeAsync('t');
  const got = new Promise((resolve) => client.once('message', (topic, payload) => resolve(payload.toString())));
  await client.publishAsync('t', 'hello');
  console.log(JSON.stringify({ missing, payload: await got }));
  await client.endAsync();
  await broker.close();`;

const typeScriptProgram = `
import mqtt, { type IClientOptions } from 'culex/mqtt';
import { connect, type ClientOptions } from 'culex';
import { Broker, LevelStore, type BrokerOptions } from 'culex/broker';
import { runStoreContract } from 'culex/broker/testing';
import { loadBrokerConfig } from 'culex/config';
import { FileAuth } from 'culex/auth';
import { ClusterNode } from 'culex/cluster';
const options: IClientOptions = { protocolVersion: 5 };
const native: ClientOptions = { protocolVersion: 4 };
const brokerOptions: BrokerOptions = { listeners: [{ port: 0 }], store: new LevelStore('data') };
const client = mqtt.connect('mqtt://127.0.0.1:1883', options);
client.on('message', (topic: string, payload: Buffer) => console.log(topic, payload.toString()));
export const used = [connect, native, Broker, brokerOptions, runStoreContract, loadBrokerConfig, FileAuth, ClusterNode, client];
`;

/** The directory `name` resolves to from `from`, as Node's node_modules lookup finds it. */
function packageDir(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dir === dirname(dir)) throw new Error(`${name} is not installed (looked up from ${from})`);
  }
}

/** Every package a user's install brings with `dependencies` (taken from this repository's), with its size in KiB. */
function dependencyClosure(dependencies: Record<string, string>): Map<string, number> {
  const sizes = new Map<string, number>();
  const visit = (names: string[], from: string): void => {
    for (const name of names) {
      const dir = packageDir(name, from);
      if (sizes.has(dir)) continue;
      sizes.set(dir, Number(execFileSync('du', ['-sk', '--exclude=node_modules', dir], { encoding: 'utf8' }).split('\t')[0]));
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      visit(Object.keys(manifest.dependencies ?? {}), dir);
    }
  };
  visit(Object.keys(dependencies), root);
  return sizes;
}

describe('the npm package', () => {
  let dir: string;
  let project: string;
  let packed: PackResult;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'culex-pack-'));
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
    const output = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    packed = (JSON.parse(output) as PackResult[])[0]!;
    project = join(dir, 'project');
    const modules = join(project, 'node_modules');
    mkdirSync(modules, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, packed.filename), '-C', modules]);
    renameSync(join(modules, 'package'), join(modules, 'culex'));
    const manifest = JSON.parse(readFileSync(join(modules, 'culex/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies)) {
      const link = join(modules, 'culex/node_modules', dependency);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(realpathSync(join(root, 'node_modules', dependency)), link);
    }
    // The program's own type declarations for Node, as any TypeScript project for Node has.
    mkdirSync(join(modules, '@types'), { recursive: true });
    symlinkSync(realpathSync(join(root, 'node_modules/@types/node')), join(modules, '@types/node'));
    const dependencies = dependencyClosure(manifest.dependencies);
    const dependencyKiB = [...dependencies.values()].reduce((sum, kib) => sum + kib, 0);
    console.log(`npm pack: ${packed.filename}, ${(packed.size / 1024).toFixed(0)} KiB packed, ` +
      `${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${packed.files.length} files; installed with its ` +
      `${dependencies.size} dependencies (as this repository has them): ${((packed.unpackedSize / 1024 + dependencyKiB) / 1024).toFixed(1)} MiB`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function writeManifest(type: 'module' | 'commonjs'): void {
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type }));
  }

  function node(file: string, code: string): { missing: string[]; payload: string } {
    writeFileSync(join(project, file), code);
    return JSON.parse(execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8', timeout: 60_000 })) as { missing: string[]; payload: string };
  }

  it('holds the licence, the docs the README links to, both builds, and no source maps that point at unshipped files', () => {
    const paths = new Set(packed.files.map((file) => file.path));
    for (const path of ['LICENSE', 'README.md', 'docs/coming-from-mqttjs.md', 'docs/persistence.md', 'src/client/README.md',
      'dist/cjs/package.json', 'dist/mqttjs/index.js', 'dist/cjs/mqttjs/index.d.ts', 'bin/culex.js', 'docs/deploy.md', 'docs/culex.service',
      'docs/operate.md', 'docs/dashboard.png', 'dist/dashboard/index.html', 'dist/dashboard/app.js']) {
      assert.ok(paths.has(path), `${path} is not in the package`);
    }
    // Every relative link of the shipped Markdown leads to a shipped file (a folder: its README.md).
    for (const doc of [...paths].filter((path) => path.endsWith('.md'))) {
      const text = readFileSync(join(project, 'node_modules/culex', doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!) || target!.startsWith('#')) continue;
        const linked = posix.normalize(posix.join(posix.dirname(doc), target!.split('#')[0]!)).replace(/\/$/, '');
        assert.ok(paths.has(linked) || paths.has(`${linked}/README.md`), `${doc} links to ${target}, which is not in the package`);
      }
    }
    const maps = [...paths].filter((path) => path.endsWith('.map'));
    assert.deepEqual(maps, ['dist/browser/culex.js.map']);
    const browserMap = JSON.parse(readFileSync(join(project, 'node_modules/culex/dist/browser/culex.js.map'), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
    assert.equal(browserMap.sourcesContent?.length, browserMap.sources.length, 'the browser map carries its sources');
    assert.ok(![...paths].some((path) => path.startsWith('test/') || path.endsWith('.ts') && !path.endsWith('.d.ts')));
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/culex/package.json'), 'utf8')) as { engines: { node: string }; license: string };
    // The store checks records with zlib.crc32, which Node has from 20.15.
    assert.equal(manifest.engines.node, '>=20.15');
    assert.equal(manifest.license, 'MIT');
  });

  it('runs an ES module program that imports every entry', () => {
    writeManifest('module');
    const result = node('esm.mjs', roundTrip((name) => (name === 'name' ? 'await import(name)' : `await import('${name}')`)));
    assert.deepEqual(result, { missing: [], payload: 'hello' });
  });

  it('runs a CommonJS program that requires every entry', () => {
    writeManifest('commonjs');
    const body = roundTrip((name) => (name === 'name' ? 'require(name)' : `require('${name}')`));
    const result = node('cjs.cjs', `(async () => {${body}})();`);
    assert.deepEqual(result, { missing: [], payload: 'hello' });
  });

  for (const type of ['module', 'commonjs'] as const) {
    for (const [module, resolution] of [['node16', undefined], ['nodenext', undefined], ['commonjs', undefined], ['esnext', 'bundler']] as const) {
      it(`type-checks a TypeScript program with module ${module}${resolution ? ` and ${resolution} resolution` : ''} in a package of type ${type}`, () => {
        writeManifest(type);
        writeFileSync(join(project, 'use.ts'), typeScriptProgram);
        const compilerOptions: Record<string, unknown> = { module, target: 'es2022', strict: true, noEmit: true, esModuleInterop: true, types: ['node'] };
        if (resolution) compilerOptions.moduleResolution = resolution;
        writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['use.ts'] }));
        try {
          execFileSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
        } catch (error) {
          assert.fail(`tsc: ${(error as { stdout?: string }).stdout ?? String(error)}`);
        }
      });
    }
  }

  it('declares every package its code loads', () => {
    assert.ok(existsSync(join(project, 'node_modules/culex/node_modules/@types/ws')), 'the types of ws are a dependency: the declarations use them');
  });
});
