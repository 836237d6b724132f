/** The README's promises that can be checked mechanically: its programs, commands and configuration examples. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { connect, createClient } from '../../src/client/index.js';
import { startCulexBroker } from '../cli/culex-broker.js';
import { blockWith, checkSnippet, fencedBlocks as blocksOf, runSnippet } from './snippets.js';

const root = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function fencedBlocks(language: string): string[] {
  return blocksOf(readme, language);
}

/** The programs import the build (dist/): it is brought up to date first. */
function build(): void {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: root, stdio: 'pipe' });
}

describe('README', () => {
  before(build);

  it('runs the embedded broker that keeps its state across a restart', async () => {
    const program = blockWith('README.md', 'ts', 'new LevelStore(');
    const port = String(await freePort());
    const output = runSnippet(program, [['1883', port]]);
    assert.equal(output.trim(), 'after the restart, device-1 got: reboot');
  });

  it('has TypeScript blocks that are whole programs (imports included) and type-check', () => {
    const blocks = fencedBlocks('ts');
    assert.ok(blocks.length >= 9);
    for (const block of blocks) checkSnippet(block);
  });

  it('has cloud credential programs that connect, publish and end (run against a local broker)', async () => {
    const broker = await startCulexBroker(['--port', '0', '--memory', '--sys-interval', '0'], 1);
    try {
      const local = `mqtt://127.0.0.1:${broker.ports[0]}`;
      // A persistent session queues what the programs publish while this process waits for them.
      const watcher = await connect(local, { clientId: 'readme-watcher', clean: false, protocolVersion: 4, reconnect: false });
      await watcher.subscribe('#', { qos: 1 });
      await watcher.end();
      const programs: Array<[string, string, Record<string, string>]> = [
        ['azureConnectOptions', 'azure.url', { DEVICE_CONNECTION_STRING: 'HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=' }],
        ['tencentCredentials', 'c.url', { SECRET: 'c2VjcmV0' }],
        ['aliyunMqCredentials', "'mqtt://post-cn-xxx.mqtt.aliyuncs.com'", { AK: 'ak', SK: 'sk' }],
        ['aliyunIotCredentials', "'mqtts://a1B2c3.iot-as-mqtt.cn-shanghai.aliyuncs.com'", { SECRET: 'secret' }],
      ];
      for (const [marker, url, env] of programs) {
        runSnippet(blockWith('README.md', 'ts', `${marker}(`), [[`connect(${url},`, `connect('${local}',`]], 30_000, env);
      }
      const topics: string[] = [];
      // Created, not awaited: the queued messages come right after CONNACK, before a connect() would resolve.
      const again = createClient(local, { clientId: 'readme-watcher', clean: false, protocolVersion: 4, reconnect: false });
      again.on('message', (topic) => topics.push(topic));
      await waitFor(() => topics.length >= programs.length, 10_000, `the programs' messages (${topics.join(', ')})`);
      await again.end();
      assert.deepEqual(topics, ['devices/dev1/messages/events/', 'ABCDEFGHIJ/dev1/data', 'parent/topic', '/sys/a1B2c3/dev1/thing/event/property/post']);
    } finally {
      await broker.stop();
    }
  });

  it('gives the test command that CI runs', () => {
    const ci = readFileSync(join(root, '.ci/run'), 'utf8');
    const testCommand = fencedBlocks('sh').map((b) => b.split('\n').find((l) => l.includes('npm test'))).find(Boolean);
    assert.ok(testCommand, 'no test command in the README');
    assert.ok(ci.split('\n').includes(testCommand!.trim()), `.ci/run does not run '${testCommand}'`);
  });

  it('starts the broker with npm start, which runs culex broker', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(readme, /npm install --no-audit --no-fund && npm run build && npm start/);
    assert.equal(pkg.scripts.start, 'node bin/culex.js broker');
  });

  it('has a hardened mosquitto.conf and JSON configuration that culex broker accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-readme-'));
    try {
      const [conf] = fencedBlocks('conf').filter((b) => b.includes('allow_anonymous false'));
      assert.ok(conf, 'no mosquitto.conf example');
      writeFileSync(join(dir, 'mosquitto.conf'), conf!);
      const fromConf = await loadBrokerConfig(join(dir, 'mosquitto.conf'));
      assert.equal(fromConf.format, 'mosquitto');
      assert.equal(fromConf.listeners.length, 2);
      assert.ok(fromConf.listeners.every((l) => l.allowAnonymous !== true));

      const [json] = fencedBlocks('json');
      assert.ok(json, 'no JSON example');
      writeFileSync(join(dir, 'culex.json'), json!);
      const fromJson = await loadBrokerConfig(join(dir, 'culex.json'));
      assert.equal(fromJson.format, 'native');
      assert.equal(fromJson.listeners.length, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bridges edge to cloud in eight lines of mosquitto.conf', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-readme-'));
    try {
      const [conf] = fencedBlocks('conf').filter((b) => b.includes('connection cloud'));
      assert.ok(conf, 'no bridge example');
      assert.equal(conf!.trim().split('\n').length, 8);
      writeFileSync(join(dir, 'edge.conf'), conf!);
      const { bridges } = await loadBrokerConfig(join(dir, 'edge.conf'));
      assert.equal(bridges?.length, 1);
      assert.deepEqual(bridges![0]!.addresses, ['cloud.example.com:8883', 'backup.example.com:8883']);
      assert.deepEqual(bridges![0]!.topics.map((t) => t.direction), ['out', 'in']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('documentation', () => {
  before(build);
  // docs/persistence.md's blocks are recipes around the reader's own store class and test framework, not programs.
  const documents = ['docs/coming-from-mqttjs.md', 'docs/iothub.md', 'docs/security.md', 'src/auth/README.md', 'src/broker/README.md', 'src/client/README.md',
    'src/config/README.md', 'src/packet/README.md'];
  for (const document of documents) {
    it(`${document}: every TypeScript block type-checks with its imports (what is the reader's own is declared)`, () => {
      const blocks = blocksOf(readFileSync(join(root, document), 'utf8'), 'ts');
      assert.ok(blocks.length > 0);
      for (const block of blocks) checkSnippet(block);
    });
  }
});
