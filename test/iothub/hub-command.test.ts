// `culex hub`: init, policies, tokens, device commands, connection strings, and the locked data directory.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { silentLogger } from '../../src/broker/logger.js';
import { authorizeService, createIotHub } from '../../src/iothub/index.js';
import { hubOptionsFrom, readHubConfig } from '../../src/iothub/hub-config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'culex-hub-cli-'));
const dir = join(work, 'hub');
after(() => rmSync(work, { recursive: true, force: true }));

function hub(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'hub', ...args, '--dir', dir], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
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
