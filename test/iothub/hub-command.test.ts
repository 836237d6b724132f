// `culex hub`: init, policies, tokens, device commands, connection strings, and the locked data directory.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { silentLogger } from '../../src/broker/logger.js';
import { authorizeService, createIotHub } from '../../src/iothub/index.js';
import { hubOptionsFrom, readHubConfig } from '../../src/iothub/hub-config.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'culex-hub-cli-'));
const dir = join(work, 'hub');
after(() => rmSync(work, { recursive: true, force: true }));

function hub(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return hubAt(dir, ...args);
}

function hubAt(directory: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'hub', ...args, '--dir', directory], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

test('culex hub manages a hub directory', async () => {
  const init = await hub('init', '--name', 'hub.example', '--mqtt-port', '18883', '--wss-port', '0');
  assert.equal(init.code, 0, init.stderr);
  for (const file of ['hub.json', 'tls/ca.crt', 'tls/server.crt', 'tls/server.key']) assert.ok(existsSync(join(dir, file)), file);
  assert.equal((await hub('init')).code, 1, 'init refuses to overwrite');
  const config = readHubConfig(dir);
  assert.equal(config.websocketPort, null);
  assert.deepEqual(JSON.parse((await hub('policies')).stdout).map((p: { keyName: string }) => p.keyName), ['iothubowner', 'service', 'device', 'registryRead', 'registryReadWrite']);

  const token = (await hub('token', '--policy', 'service', '--ttl', '60')).stdout.trim();
  assert.equal(authorizeService(token, config.policies, 'hub.example', 'ServiceConnect').keyName, 'service');
  assert.throws(() => authorizeService(token, config.policies, 'hub.example', 'RegistryWrite'), /lacks the RegistryWrite right/);

  const added = JSON.parse((await hub('device', 'add', 'sensor-1')).stdout);
  assert.equal(added.authentication.type, 'sas');
  assert.equal((await hub('device', 'add', 'cam', '--x509-ca')).code, 0);
  assert.equal((await hub('device', 'add', 'sensor-1', '--module', 'edge')).code, 0);
  const cs = (await hub('connection-string', 'sensor-1')).stdout.trim();
  assert.equal(cs, `HostName=hub.example;DeviceId=sensor-1;SharedAccessKey=${added.authentication.symmetricKey.primaryKey};GatewayHostName=localhost:18883`);
  assert.equal((await hub('connection-string', 'cam', '--gateway', 'gw:1')).stdout.trim(), 'HostName=hub.example;DeviceId=cam;x509=true;GatewayHostName=gw:1');
  assert.match((await hub('connection-string', 'sensor-1', '--module', 'edge')).stdout, /;ModuleId=edge;SharedAccessKey=/);
  const cert = JSON.parse((await hub('device', 'cert', 'cam')).stdout);
  assert.ok(existsSync(cert.certFile));

  const listed = (await hub('device', 'list')).stdout.trim().split('\n').map((line) => JSON.parse(line) as { deviceId: string; moduleId?: string });
  assert.deepEqual(listed.map((d) => d.moduleId ? `${d.deviceId}/${d.moduleId}` : d.deviceId), ['cam', 'sensor-1', 'sensor-1/edge']);
  assert.equal((await hub('device', 'remove', 'sensor-1')).code, 0);
  assert.equal((await hub('device', 'list')).stdout.trim().split('\n').length, 1);

  // A running hub holds the data directory: the device commands say what to do instead.
  const running = createIotHub({ ...hubOptionsFrom(dir, config), mqttPort: 0, websocketPort: null, servicePort: 0, logger: silentLogger });
  await running.start();
  try {
    assert.ok(running.registry.get('cam'));
    const locked = await hub('device', 'add', 'late');
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /use its service API/);
  } finally {
    await running.stop();
  }
  assert.equal((await hub('bogus')).code, 2);
});

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('culex hub listens on high ports by default, start takes this run\'s ports, and an option a command does not take is refused', async () => {
  const home = join(work, 'ports');
  const init = await hubAt(home, 'init');
  assert.equal(init.code, 0, init.stderr);
  const stored = readHubConfig(home);
  assert.deepEqual([stored.mqttPort, stored.websocketPort, stored.servicePort], [8883, 8443, 8080]);

  const stray = await hubAt(home, 'token', '--wss-port', '0');
  assert.equal(stray.code, 2);
  assert.equal(stray.stderr, "culex hub: --wss-port does not apply to 'token'\nrun 'culex hub --help' for usage\n");

  const none = await hubAt(home, 'start', '--mqtt-port', '0', '--wss-port', '0', '--service-port', '0');
  assert.equal(none.code, 1);
  assert.match(none.stderr, /all off \(0\): nothing to listen on/);

  // The stored ports are not used: WebSocket and the service API are off for this run, MQTT on a free port.
  const mqttPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'hub', 'start', '--dir', home,
    '--mqtt-port', String(mqttPort), '--wss-port', '0', '--service-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = once(child, 'exit');
  try {
    await waitFor(() => out.includes('listening') || child.exitCode !== null, 30_000, 'the hub listening');
    assert.equal(out.split('\n')[0], `hub 'localhost' listening on 127.0.0.1: mqtts ${mqttPort}`);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  assert.equal(child.exitCode, 0, `${child.signalCode} ${out}`);
  assert.equal(readHubConfig(home).websocketPort, 8443, 'hub.json is left as it was');
});

test('culex hub init without the openssl command says what to do', async () => {
  const home = join(work, 'no-openssl');
  // PATH without openssl; node itself is started by its full path.
  const run = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'hub', 'init', '--dir', home], { cwd: ROOT, timeout: 60_000, env: { ...process.env, PATH: join(work, 'empty-path') } }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stderr });
    });
  });
  assert.equal(run.code, 1);
  assert.equal(run.stderr, 'culex hub: making certificates needs the openssl command, which is not on the PATH: install it (Debian: apt-get install openssl), or give --no-certs and set the tls files in hub.json\n');
  const bare = await hubAt(join(work, 'no-certs'), 'init', '--no-certs');
  assert.equal(bare.code, 0, bare.stderr);
});
