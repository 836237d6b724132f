// Bridges in configuration files: Mosquitto's bridge keys in a mosquitto.conf (the unsupported ones refused by
// name), and the native file's `bridges`.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadBrokerConfig, setUpBroker } from '../../src/config/index.js';
import { silentLogger } from '../../src/broker/index.js';
import { makeCerts } from '../helpers/certs.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-bridge-config-'));
let counter = 0;

function file(text: string, extension = 'conf'): string {
  const path = join(dir, `c${counter++}.${extension}`);
  writeFileSync(path, text);
  return path;
}

async function failure(path: string): Promise<string> {
  try {
    await loadBrokerConfig(path);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('expected the configuration to be refused');
}

describe('bridges in a mosquitto.conf', () => {
  it('maps every supported bridge key', async () => {
    const config = await loadBrokerConfig(file([
      'listener 1883',
      'connection cloud',
      'address cloud.example.com:8883 backup.example.com',
      'topic sensors/# out 1 site/ edge1/',
      'topic commands/# in 2',
      'topic "" both 0 local/one remote/one',
      'topic all/#',
      'bridge_protocol_version mqttv50',
      'remote_clientid edge1',
      'local_clientid edge1-local',
      'remote_username user',
      'remote_password secret',
      'cleansession false',
      'local_cleansession true',
      'bridge_cafile ca.crt',
      'bridge_certfile client.crt',
      'bridge_keyfile client.key',
      'bridge_insecure true',
      'bridge_tls_version tlsv1.3',
      'keepalive_interval 30',
      'restart_timeout 2 20',
      'round_robin true',
      'try_private false',
      'notifications true',
      'notification_topic edge/state',
      'notifications_local_only true',
      'bridge_outgoing_retain false',
      'bridge_max_packet_size 65536',
      'bridge_receive_maximum 50',
      'bridge_session_expiry_interval 3600',
      'start_type automatic',
      'connection second',
      'addresses 127.0.0.1:1884',
      'clientid old-style',
      'topic x',
    ].join('\n')));
    const [cloud, second] = config.bridges!;
    assert.deepEqual(cloud, {
      name: 'cloud',
      addresses: ['cloud.example.com:8883', 'backup.example.com'],
      topics: [
        { pattern: 'sensors/#', direction: 'out', qos: 1, localPrefix: 'site/', remotePrefix: 'edge1/' },
        { pattern: 'commands/#', direction: 'in', qos: 2 },
        { pattern: '', direction: 'both', qos: 0, localPrefix: 'local/one', remotePrefix: 'remote/one' },
        { pattern: 'all/#' },
      ],
      protocolVersion: 5,
      remoteClientId: 'edge1',
      localClientId: 'edge1-local',
      remoteUsername: 'user',
      remotePassword: 'secret',
      cleanSession: false,
      localCleanSession: true,
      tlsFiles: { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key'), insecure: true, minVersion: 'TLSv1.3' },
      keepalive: 30,
      restartTimeout: { base: 2, cap: 20 },
      roundRobin: true,
      tryPrivate: false,
      notifications: true,
      notificationTopic: 'edge/state',
      notificationsLocalOnly: true,
      outgoingRetain: false,
      maxPacketSize: 65536,
      receiveMaximum: 50,
      sessionExpiryInterval: 3600,
    });
    assert.deepEqual(second, { name: 'second', addresses: ['127.0.0.1:1884'], topics: [{ pattern: 'x' }], remoteClientId: 'old-style' });
  });

  it('refuses a bridge key Culex does not implement, naming it, its line and why', async () => {
    const path = file('connection cloud\naddress a:1883\ntopic x\nbridge_psk 0123\nstart_type lazy\nidle_timeout 60\n');
    const message = await failure(path);
    assert.equal(message, [
      `${path}:4: unsupported bridge option 'bridge_psk' (no TLS-PSK)`,
      `${path}:5: start_type: culex supports automatic only, not 'lazy'`,
      `${path}:6: unsupported bridge option 'idle_timeout' (only start_type automatic)`,
    ].join('\n'));
  });

  it('refuses bridge keys before a connection line, bad values, and a bridge that cannot work', async () => {
    const path = file('address a:1883\nconnection cloud\ntopic x sideways\nkeepalive_interval 2\nconnection empty\n');
    const message = await failure(path);
    assert.equal(message, [
      `${path}:1: address must follow a connection line`,
      `${path}:3: topic: direction 'sideways' is not in, out or both`,
      `${path}:4: keepalive_interval: expected an integer from 5 to 65535, not '2'`,
      `${path}:2: bridge cloud: at least one address is needed`,
      `${path}:2: bridge cloud: at least one topic is needed`,
      `${path}:5: bridge empty: at least one address is needed`,
      `${path}:5: bridge empty: at least one topic is needed`,
    ].join('\n'));
  });

  it("reads the bridge's certificate files when the broker is set up", async () => {
    const certs = await makeCerts();
    const config = await loadBrokerConfig(file(`connection tls\naddress localhost:8883\ntopic x\nbridge_cafile ${certs.caFile}\n`));
    const setup = await setUpBroker(config, silentLogger);
    assert.deepEqual(setup.bridges[0]!.tls, { ca: Buffer.concat([certs.ca, Buffer.from('\n')]) });
  });
});

describe('bridges in the native configuration file', () => {
  it('takes the bridge options by their culex names', async () => {
    const config = await loadBrokerConfig(file(JSON.stringify({
      bridges: [{
        name: 'cloud',
        addresses: ['wss://hub.example.com/mqtt'],
        topics: [{ pattern: 'telemetry/#', direction: 'out', qos: 1, remotePrefix: 'devices/d1/messages/events/' }],
        protocolVersion: 4,
        credentials: { type: 'azure', connectionString: 'HostName=h;DeviceId=d1;SharedAccessKey=a2V5' },
        tls: { ca: 'ca.pem', insecure: false },
        restartTimeout: { base: 1 },
        queue: { maxMessages: 5000, maxBytes: 1_000_000, maxAge: 86400 },
        maxHops: 4,
        notificationsLocalOnly: true,
      }],
    }), 'json'));
    assert.deepEqual(config.bridges, [{
      name: 'cloud',
      addresses: ['wss://hub.example.com/mqtt'],
      topics: [{ pattern: 'telemetry/#', direction: 'out', qos: 1, remotePrefix: 'devices/d1/messages/events/' }],
      protocolVersion: 4,
      credentials: { type: 'azure', connectionString: 'HostName=h;DeviceId=d1;SharedAccessKey=a2V5' },
      tlsFiles: { caFile: join(dir, 'ca.pem'), insecure: false },
      restartTimeout: { base: 1, cap: 1 },
      queue: { maxMessages: 5000, maxBytes: 1_000_000, maxAge: 86400 },
      maxHops: 4,
      notificationsLocalOnly: true,
    }]);
  });

  it('refuses unknown keys and options that cannot work', async () => {
    assert.match(await failure(file('{"bridges": [{"name": "b", "addresses": ["a"], "topics": [{"pattern": "x"}], "psk": "1"}]}', 'json')), /unknown key 'bridges\[0\]\.psk'/);
    assert.match(await failure(file('{"bridges": [{"name": "b", "addresses": ["a"], "topics": [{"pattern": "", "localPrefix": "l/"}]}]}', 'json')),
      /bridges\[0\] \(b\): topic an empty pattern needs both a local and a remote prefix/);
  });
});
