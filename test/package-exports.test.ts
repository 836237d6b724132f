/**
 * The package's entry points as a program that depends on culex sees them: built (`tsc -b` writes dist/), then
 * imported by name. `culex/...` resolves through package.json "exports" to dist/ because this file is inside the
 * package named culex (self-reference), exactly as it would from node_modules.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

const root = new URL('../', import.meta.url).pathname;
interface Target {
  types: string;
  default: string;
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, { import: Target; require: Target; browser?: string } | string>;
};
/** The code entries (`./package.json` is there for tools that read it). */
const codeEntries = Object.entries(pkg.exports).filter(
  (entry): entry is [string, { import: Target; require: Target; browser?: string }] => typeof entry[1] !== 'string',
);

/** Every entry and a few of the names it must export: what the README and the parts' READMEs present. */
const documented: Record<string, string[]> = {
  culex: ['connect', 'createClient', 'MqttClient', 'MemoryMessageStore', 'FileStore', 'scramSha256', 'ScramError', 'ReasonCode'],
  'culex/client': ['connect', 'createClient', 'MqttClient', 'MemoryMessageStore', 'FileStore', 'scramSha256', 'ScramError', 'ReasonCode'],
  'culex/broker': ['Broker', 'MemoryStore', 'LevelStore', 'StoreError', 'LocalRouter', 'defaultLimits', 'stderrLogger', 'silentLogger', 'ReasonCode'],
  'culex/broker/testing': ['runStoreContract', 'writeCrashWorkload'],
  'culex/packet': ['encode', 'encodePublishHead', 'decode', 'PacketParser', 'PacketError', 'ReasonCode', 'reasonCodeName'],
  'culex/topic': ['validateTopicName', 'validateTopicFilter', 'validateSubscriptionFilter', 'parseSharedFilter', 'matches', 'SubscriptionIndex', 'TopicMap'],
  'culex/transport': ['SocketStream', 'WebSocketStream', 'dialTcp', 'dialTls', 'dialWebSocket', 'dialBrowserWebSocket', 'parseProxyHeader'],
  'culex/credentials': ['azureConnectOptions', 'azureCredentials', 'verifyAzure', 'tencentCredentials', 'aliyunMqCredentials', 'aliyunIotCredentials'],
  'culex/auth': ['FileAuth', 'ConnectionGuard', 'defaultConnectionGuard', 'deriveScramCredential', 'formatScramCredential', 'PasswordFileError', 'AclFileError', 'ScramCredentialFileError'],
  'culex/config': ['loadBrokerConfig', 'setUpBroker', 'ConfigError', 'ConfigErrors'],
  'culex/cluster': ['ClusterNode', 'NatsEngine', 'MemoryCluster', 'MemoryEngine', 'NodeUnreachableError', 'EngineUnavailableError', 'TopicSubjects'],
  'culex/registry': ['DeviceRegistry', 'MemoryKeyValueStore', 'LevelKeyValueStore', 'CodedError'],
  'culex/iothub': ['createIotHub', 'IotHub', 'createServiceToken', 'CodedError'],
  'culex/dialects': ['tencentProfile', 'aliyunMqProfile', 'aliyunIotProfile'],
  'culex/ops': ['OpsServer', 'newToken', 'tokenHash'],
  'culex/mqtt': ['connect', 'connectAsync', 'MqttClient', 'Client', 'ErrorWithReasonCode', 'default'],
};

/** The entries by package name (`.` is `culex`, `./broker` is `culex/broker`). */
const entries = codeEntries.map(([key]) => pkg.name + key.slice(1));

async function load(name: string): Promise<Record<string, unknown>> {
  return (await import(name)) as Record<string, unknown>;
}

describe('package entry points', () => {
  before(() => {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: root, stdio: 'pipe' });
    execFileSync(process.execPath, [join(root, 'scripts/build-cjs.mjs')], { cwd: root, stdio: 'pipe' });
  });

  it('are each a part index.ts, built as ES module and CommonJS with its types', () => {
    assert.deepEqual(entries.slice().sort(), Object.keys(documented).sort());
    for (const [key, entry] of codeEntries) {
      assert.match(entry.import.default, /^\.\/dist\/[a-z]+(\/testing)?\/index\.js$/, key);
      assert.equal(entry.require.default, entry.import.default.replace('./dist/', './dist/cjs/'), key);
      for (const target of [entry.import, entry.require]) assert.equal(target.types, target.default.replace(/\.js$/, '.d.ts'), key);
      for (const file of [entry.import.types, entry.import.default, entry.require.types, entry.require.default, entry.browser]) {
        if (file !== undefined) assert.ok(existsSync(join(root, file)), `${key}: ${file} was not built`);
      }
    }
  });

  it('export the same names through require() as through import', async () => {
    const script = `const names = {};
      for (const name of ${JSON.stringify(entries)}) names[name] = Object.keys(require(name)).filter((key) => key !== '__esModule').sort();
      console.log(JSON.stringify(names));`;
    const required = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })) as Record<string, string[]>;
    for (const name of entries) {
      const imported = Object.keys(await load(name)).sort();
      assert.deepEqual(required[name], imported, name);
    }
  });

  it('export what the docs describe, imported by package name', async () => {
    const missing: string[] = [];
    for (const name of entries) {
      const module = await load(name);
      for (const symbol of documented[name]!) if (module[symbol] === undefined) missing.push(`${name}: ${symbol}`);
    }
    assert.deepEqual(missing, []);
  });

  it('never export two different things under one name (but culex/mqtt, which has MQTT.js\'s names)', async () => {
    const byName = new Map<string, Map<unknown, string[]>>();
    for (const name of entries.filter((entry) => entry !== 'culex/mqtt')) {
      for (const [symbol, value] of Object.entries(await load(name))) {
        const values = byName.get(symbol) ?? new Map<unknown, string[]>();
        values.set(value, [...(values.get(value) ?? []), name]);
        byName.set(symbol, values);
      }
    }
    const clashes = [...byName]
      .filter(([, values]) => values.size > 1)
      .map(([symbol, values]) => `${symbol}: ${[...values.values()].map((names) => names.join(', ')).join(' / ')}`);
    assert.deepEqual(clashes, []);
  });

  it('culex/broker loads the LevelDB binding only when a LevelStore opens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-exports-'));
    try {
      const script = `
        import { createRequire } from 'node:module';
        const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('classic-level'));
        const { Broker, LevelStore } = await import('culex/broker');
        const atImport = loaded();
        const broker = new Broker({ listeners: [{ port: 0 }], sysInterval: 0 });
        await broker.listen();
        await broker.close();
        const memoryOnly = loaded();
        const store = new LevelStore(${JSON.stringify(join(dir, 'store'))});
        await store.open();
        const opened = loaded();
        await store.close();
        console.log(JSON.stringify({ atImport, memoryOnly, opened }));`;
      const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
      assert.deepEqual(JSON.parse(output), { atImport: false, memoryOnly: false, opened: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
