import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadBrokerConfig, detectFormat } from '../../src/config/broker-config.js';
import { ConfigError, ConfigErrors } from '../../src/config/config-error.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-config-'));
let counter = 0;

function file(text: string, name = `c${counter++}.conf`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function failure(path: string): Promise<Error> {
  try {
    await loadBrokerConfig(path);
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the configuration to be refused');
}

describe('configuration files', () => {
  it('detects the form from the content', () => {
    assert.equal(detectFormat('  {"listeners": []}'), 'native');
    assert.equal(detectFormat('# comment\nlistener 1883\n'), 'mosquitto');
  });

  describe('mosquitto.conf', () => {
    it("applies Mosquitto's defaults: no listener = local only with anonymous clients, no persistence", async () => {
      const config = await loadBrokerConfig(file('# nothing but a comment\n'));
      assert.equal(config.format, 'mosquitto');
      assert.deepEqual(config.listeners, [{ protocol: 'mqtt', host: '127.0.0.1', port: 1883 }]);
      assert.equal(config.broker.allowAnonymous, true);
      assert.equal(config.persistence.dataDir, undefined);
      assert.equal(config.broker.limits?.maxPacketSize, 268_435_455);
      assert.equal(config.broker.limits?.receiveMaximum, 20);
    });

    it('a listener refuses anonymous clients unless allow_anonymous true; binds all addresses without a bind address', async () => {
      const config = await loadBrokerConfig(file('listener 1884\n'));
      assert.deepEqual(config.listeners, [{ protocol: 'mqtt', host: '0.0.0.0', port: 1884 }]);
      assert.equal(config.broker.allowAnonymous, false);
    });

    it('maps every supported directive', async () => {
      const sub = join(dir, 'conf.d');
      mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, 'b.conf'), 'max_keepalive 120\n');
      writeFileSync(join(sub, 'a.conf'), 'sys_interval 0\n');
      writeFileSync(join(sub, 'ignored.txt'), 'bogus directive\n');
      const config = await loadBrokerConfig(file([
        'user root',
        'per_listener_settings false',
        'allow_anonymous true',
        'password_file passwd',
        'acl_file /etc/acl',
        'persistence true',
        'persistence_location /var/lib/culex',
        'max_inflight_messages 5',
        'max_queued_messages 0',
        'message_size_limit 1000',
        'retain_available false',
        'persistent_client_expiration 2d',
        'max_connections 7',
        'listener 1885 127.0.0.1',
        'max_connections -1',
        'listener 8885',
        'protocol websockets',
        'cafile ca.pem',
        'certfile server.pem',
        'keyfile server.key',
        'require_certificate true',
        'use_identity_as_username true',
        `include_dir ${sub}`,
      ].join('\n')));
      assert.equal(config.broker.allowAnonymous, true);
      assert.deepEqual(config.auth, { passwordFile: join(dir, 'passwd'), aclFile: '/etc/acl' });
      assert.equal(config.persistence.dataDir, '/var/lib/culex');
      const limits = config.broker.limits!;
      assert.equal(limits.maxInflight, 5);
      assert.equal(limits.receiveMaximum, 5);
      assert.equal(limits.maxQueuedMessages, 0xffffffff);
      assert.equal(limits.maxPacketSize, 2024);
      assert.equal(limits.persistentClientExpiration, 2 * 86400);
      assert.equal(limits.maxConnections, 7);
      assert.equal(limits.maxKeepalive, 120);
      assert.equal(config.broker.sysInterval, 0);
      assert.equal(config.broker.retainAvailable, false);
      assert.equal(config.listeners.length, 2);
      assert.deepEqual(config.listeners[0], { protocol: 'mqtt', host: '127.0.0.1', port: 1885, limits: { maxConnections: 0 } });
      const ws = config.listeners[1]!;
      assert.equal(ws.protocol, 'websockets');
      assert.equal(ws.useIdentityAsUsername, true);
      assert.deepEqual(ws.tlsFiles, {
        certFile: join(dir, 'server.pem'),
        keyFile: join(dir, 'server.key'),
        caFile: join(dir, 'ca.pem'),
        requireCertificate: true,
      });
      assert.match(config.notes.join('\n'), /:1: user has no effect in culex/);
    });

    it('per_listener_settings true puts anonymous, password and ACL settings on the listener', async () => {
      const config = await loadBrokerConfig(file([
        'per_listener_settings true',
        'listener 1886 127.0.0.1',
        'allow_anonymous true',
        'listener 1887 127.0.0.1',
        'password_file /p',
        'acl_file /a',
      ].join('\n')));
      assert.equal(config.auth, undefined);
      assert.equal(config.listeners[0]!.allowAnonymous, true);
      assert.equal(config.listeners[1]!.allowAnonymous, false);
      assert.deepEqual(config.listeners[1]!.auth, { passwordFile: '/p', aclFile: '/a' });
    });

    it('reports every unsupported directive by name and line', async () => {
      const path = file('listener 1883\npsk_hint hint\nallow_anonymous true\nclientid_prefixes abc\n');
      const err = await failure(path);
      assert.ok(err instanceof ConfigErrors);
      assert.equal(err.message, `${path}:2: unsupported directive 'psk_hint'\n${path}:4: unsupported directive 'clientid_prefixes'`);
    });

    it('names the file, line and directive of a bad value', async () => {
      const path = file('listener 1883\nmax_keepalive soon\n');
      const err = await failure(path);
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${path}:2: max_keepalive: expected an integer from 1 to 65535, not 'soon'`);
      const listenerless = file('protocol websockets\n');
      assert.match((await failure(listenerless)).message, /:1: protocol must follow a listener line$/);
      const tlsHalf = file('listener 8883\ncertfile a.pem\n');
      assert.match((await failure(tlsHalf)).message, /listener 8883: TLS needs both certfile and keyfile/);
      const included = join(dir, 'bad.d');
      mkdirSync(included, { recursive: true });
      writeFileSync(join(included, 'x.conf'), '\n\nretain_available maybe\n');
      const err2 = await failure(file(`include_dir ${included}\n`));
      assert.equal(err2.message, `${join(included, 'x.conf')}:3: retain_available: expected true or false, not 'maybe'`);
    });
  });

  describe('native JSON', () => {
    it('maps onto broker options, listeners, auth and persistence', async () => {
      const config = await loadBrokerConfig(file(JSON.stringify({
        listeners: [
          { port: 1883, host: '0.0.0.0', allowAnonymous: false, backlog: 4096, auth: { passwordFile: 'pw' } },
          { protocol: 'websockets', port: 8443, tls: { cert: '/c.pem', key: '/k.pem', ca: 'ca.pem', requireCertificate: true }, useIdentityAsUsername: true },
        ],
        limits: { maxInflight: 10, maxPacketSize: 65536 },
        sysInterval: 0,
        auth: { aclFile: '/acl' },
        persistence: { dataDir: 'data', fsync: true },
        logLevel: 'debug',
      }, null, 2), 'native.json'));
      assert.equal(config.format, 'native');
      assert.deepEqual(config.broker, { limits: { maxInflight: 10, maxPacketSize: 65536 }, sysInterval: 0 });
      assert.deepEqual(config.listeners[0], { port: 1883, host: '0.0.0.0', allowAnonymous: false, backlog: 4096, auth: { passwordFile: join(dir, 'pw') } });
      assert.deepEqual(config.listeners[1], {
        protocol: 'websockets', port: 8443, useIdentityAsUsername: true,
        tlsFiles: { certFile: '/c.pem', keyFile: '/k.pem', caFile: join(dir, 'ca.pem'), requireCertificate: true },
      });
      assert.deepEqual(config.auth, { aclFile: '/acl' });
      assert.deepEqual(config.persistence, { dataDir: join(dir, 'data'), fsync: true });
      assert.equal(config.logLevel, 'debug');
    });

    it('names the file, line and key of a bad value', async () => {
      const path = file('{\n  "listeners": [\n    { "port": 1883 },\n    { "port": "eighty" }\n  ]\n}\n', 'bad-value.json');
      assert.equal((await failure(path)).message, `${path}:4: listeners[1].port: expected an integer from 0 to 65535, not "eighty"`);
      const limit = file('{\n  "limits": {\n    "maxInflight": 0\n  }\n}\n', 'bad-limit.json');
      assert.equal((await failure(limit)).message, `${limit}:3: limits.maxInflight: expected an integer from 1 to 65535, not 0`);
      const backlog = file('{ "listeners": [{ "port": 1883, "backlog": 0 }] }', 'bad-backlog.json');
      assert.equal((await failure(backlog)).message, `${backlog}:1: listeners[0].backlog: expected an integer from 1 to 65535, not 0`);
      const level = file('{ "logLevel": "loud" }', 'bad-enum.json');
      assert.equal((await failure(level)).message, `${level}:1: logLevel: expected one of "error", "warn", "info", "debug", not "loud"`);
    });

    it('refuses unknown keys and missing required ones', async () => {
      const path = file('{\n  "listeners": [{ "port": 1, "protocl": "mqtt" }]\n}', 'unknown.json');
      assert.match((await failure(path)).message, new RegExp(`^${path.replace(/[.]/g, '\\.')}:2: unknown key 'listeners\\[0\\]\\.protocl' \\(known here: name, protocol,`));
      const missing = file('{\n  "listeners": [\n    { "host": "::1" }\n  ]\n}', 'missing.json');
      assert.equal((await failure(missing)).message, `${missing}:3: listeners[0]: 'port' or 'unix' is required`);
    });

    it('reports JSON syntax errors with their line', async () => {
      const path = file('{\n  "sysInterval": 5,\n}\n', 'syntax.json');
      assert.equal((await failure(path)).message, `${path}:3: expected a key in double quotes but found '}'`);
      const dup = file('{ "sysInterval": 5,\n "sysInterval": 6 }', 'dup.json');
      assert.equal((await failure(dup)).message, `${dup}:2: duplicate key 'sysInterval'`);
    });

    it('reports a file that cannot be read', async () => {
      const path = join(dir, 'absent.json');
      assert.equal((await failure(path)).message, `${path}: cannot read: ENOENT`);
    });
  });
});
