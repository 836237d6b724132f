/**
 * The same mosquitto_pub / mosquitto_sub invocations run as the Mosquitto tools and as `culex pub` / `culex sub`
 * against one Mosquitto broker: printed output and exit codes must match. Error messages are not compared (culex
 * prints one line naming the cause), but must be one line.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type MqttClient } from '../../src/client/index.js';
import type { PublishPacket } from '../../src/packet/types.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { culex, mosquitto, pool, run, type RunResult } from './run.js';

interface SubCase {
  name: string;
  args: string[];
  /** Makes run-dependent output (timestamps) comparable. */
  normalize?: (out: string) => string;
}

interface PubCase {
  name: string;
  /** `{t}` is replaced by a topic prefix of the run's own. */
  args: string[];
  stdin?: string;
  /** Messages the case publishes. */
  count: number;
}

interface ErrorCase {
  tool: 'pub' | 'sub';
  name: string;
  args: string[];
  /** Where Mosquitto's code is not stable: the code culex must give. */
  culexCode?: number;
}

const digits = (out: string): string => out.replace(/\d/g, '0');
const sortLines = (out: string): string => out.split('\n').sort().join('\n');

const subCases: SubCase[] = [
  { name: 'payload only', args: ['-t', 'fx/#', '-C', '5'] },
  { name: '-v', args: ['-t', 'fx/#', '-C', '5', '-v'] },
  { name: '-v -N', args: ['-t', 'fx/#', '-C', '5', '-v', '-N'] },
  // libmosquitto hands a QoS 2 message over after PUBREL, culex on arrival: the order may differ, not the lines.
  { name: '-q 2 keeps each message QoS', args: ['-t', 'fx/#', '-C', '5', '-q', '2', '-F', '%t %q %r %l'], normalize: sortLines },
  { name: '-q 1 downgrades QoS 2', args: ['-t', 'fx/#', '-C', '5', '-q', '1', '-F', '%q'] },
  { name: '-F %t|%p|%q|%r|%l', args: ['-t', 'fx/a', '-t', 'fx/b', '-C', '2', '-F', '%t|%p|%q|%r|%l'] },
  { name: '-F %x and %X', args: ['-t', 'fx/#', '-C', '5', '-F', '%x %X'] },
  { name: '-F widths, alignment, padding, precision', args: ['-t', 'fx/#', '-C', '5', '-F', '[%10t][%-10t][%.4t][%05l][%-5l][%3.2t]'] },
  { name: '-F payload width truncates', args: ['-t', 'fx/long', '-C', '1', '-F', '[%5p][%-30p][%030p][%8x]'] },
  { name: '-F message id', args: ['-t', 'fx/#', '-C', '5', '-q', '1', '-F', '%m %t'] },
  { name: '-F escapes', args: ['-t', 'fx/a', '-C', '1', '-F', '\\t%t\\\\%p\\r\\0\\e\\a\\v|@@|%%'] },
  { name: '-F %j', args: ['-t', 'fx/a', '-t', 'fx/b', '-t', 'fx/json', '-C', '3', '-q', '1', '-F', '%j'], normalize: (s) => s.replace(/"tst":"[^"]*"/g, '"tst":""') },
  { name: '-F %J with one non-JSON payload', args: ['-t', 'fx/json', '-t', 'fx/a', '-C', '2', '-F', '%J'], normalize: (s) => s.replace(/"tst":"[^"]*"/g, '"tst":""') },
  { name: '-F %j --pretty with MQTT 5 properties', args: ['-V', '5', '-t', 'fx5/p', '-C', '1', '-F', '%j', '--pretty'], normalize: (s) => s.replace(/"tst":\t"[^"]*"/g, '"tst":""') },
  { name: '-F %J --pretty', args: ['-t', 'fx/json', '-C', '1', '-F', '%J', '--pretty'], normalize: (s) => s.replace(/"tst":\t"[^"]*"/g, '"tst":""') },
  { name: '-F time sequences', args: ['-t', 'fx/a', '-C', '1', '-F', '%I|%U|@Y-@m-@dT@H:@M:@S@z|@N|@j@a@b'], normalize: digits },
  { name: '-F MQTT 5 properties', args: ['-V', '5', '-t', 'fx5/p', '-C', '1', '-F', '%C|%P|%R|%D|%F|[%5A]|[%05E]|[%3S]'] },
  { name: '-F %S with a subscription identifier', args: ['-t', 'fx/a', '-C', '1', '-D', 'subscribe', 'subscription-identifier', '42', '-F', '%S %t'] },
  { name: '-V 5 -v', args: ['-V', '5', '-t', 'fx/#', '-C', '5', '-v'] },
  { name: '-V 31', args: ['-V', 'mqttv31', '-t', 'fx/a', '-C', '1', '-v'] },
  { name: '-T filters topics out', args: ['-t', 'fx/#', '-T', 'fx/b', '-T', 'fx/j+', '-C', '3', '-v'] },
  { name: '-R ignores retained messages, -W expires', args: ['-t', 'fx/#', '-R', '-W', '1'] },
  { name: '--retained-only with -W', args: ['-t', 'fx/a', '--retained-only', '-v', '-W', '1'] },
  { name: '-E exits after SUBACK', args: ['-t', 'nothing/here', '-E'] },
  { name: '-L URL with topic', args: ['-L', 'mqtt://127.0.0.1:{port}/fx/a', '-C', '1', '-v'] },
  { name: '-U after subscribing', args: ['-t', 'fx/a', '-U', 'other/#', '-C', '1', '-v'] },
  { name: '-I client id prefix', args: ['-t', 'fx/a', '-I', 'compat-prefix-', '-C', '1', '-v'] },
  { name: '-i, -k, -c', args: ['-t', 'fx/a', '-C', '1', '-i', 'compat-{tool}', '-k', '30', '-c', '-q', '1', '-v'] },
  { name: '-V 5 -x and user properties on CONNECT', args: ['-V', '5', '-t', 'fx/a', '-C', '1', '-i', 'compat5-{tool}', '-x', '60', '-D', 'connect', 'user-property', 'k', 'v', '-v'] },
  { name: 'will flags', args: ['-t', 'fx/a', '-C', '1', '--will-topic', 'wills/{tool}', '--will-payload', 'bye', '--will-qos', '1', '-v'] },
  { name: 'user name and password', args: ['-t', 'fx/a', '-C', '1', '-u', 'alice', '-P', 'secret', '-v'] },
  { name: 'TLS with --cafile', args: ['-h', 'localhost', '-p', '{tls}', '--cafile', '{cafile}', '-t', 'fx/a', '-C', '1', '-v'] },
  { name: 'TLS with --capath', args: ['-h', 'localhost', '-p', '{tls}', '--capath', '{capath}', '-t', 'fx/a', '-C', '1', '-v'] },
  { name: 'TLS with --tls-version tlsv1.3 and --insecure', args: ['-h', '127.0.0.1', '-p', '{tls}', '--cafile', '{cafile}', '--tls-version', 'tlsv1.3', '--insecure', '-t', 'fx/a', '-C', '1', '-v'] },
  { name: 'TLS with a client certificate', args: ['-h', 'localhost', '-p', '{tls}', '--cafile', '{cafile}', '--cert', '{cert}', '--key', '{key}', '-t', 'fx/b', '-C', '1', '-v'] },
];

const pubCases: PubCase[] = [
  { name: '-m', args: ['-t', '{t}/m', '-m', 'hello world'], count: 1 },
  { name: '-q 1', args: ['-t', '{t}/q1', '-q', '1', '-m', 'one'], count: 1 },
  { name: '-q 2', args: ['-t', '{t}/q2', '-q', '2', '-m', 'two'], count: 1 },
  { name: '-n', args: ['-t', '{t}/n', '-n'], count: 1 },
  { name: '-f binary file', args: ['-t', '{t}/f', '-f', '{binfile}'], count: 1 },
  { name: '-s', args: ['-t', '{t}/s', '-s'], stdin: 'all\nof\r\nit', count: 1 },
  { name: '-l', args: ['-t', '{t}/l', '-l', '-q', '1'], stdin: 'first\n\nthird\r\nlast without newline', count: 4 },
  { name: '--repeat', args: ['-t', '{t}/r', '-m', 'again', '--repeat', '3'], count: 3 },
  { name: '-V 5 with publish properties', args: ['-V', '5', '-t', '{t}/p', '-m', 'p', '-D', 'publish', 'content-type', 'text/plain', '-D', 'publish', 'user-property', 'a', 'b', '-D', 'publish', 'response-topic', 'reply/to', '-D', 'publish', 'correlation-data', 'cd', '-D', 'publish', 'payload-format-indicator', '1'], count: 1 },
  { name: '-V 31', args: ['-V', '31', '-t', '{t}/31', '-m', 'old'], count: 1 },
  { name: '-L', args: ['-L', 'mqtt://127.0.0.1:{port}/{t}/url', '-m', 'by url'], count: 1 },
  { name: 'TLS', args: ['-h', 'localhost', '-p', '{tls}', '--cafile', '{cafile}', '-t', '{t}/tls', '-m', 'secure', '-q', '1'], count: 1 },
];

const errorCases: ErrorCase[] = [
  { tool: 'pub', name: 'nothing listening', args: ['-p', '{closed}', '-t', 'a', '-m', 'x'] },
  { tool: 'sub', name: 'unknown host', args: ['-h', 'no-such-host.invalid', '-t', 'a'] },
  { tool: 'pub', name: 'no message', args: ['-t', 'a'] },
  { tool: 'pub', name: 'no topic', args: ['-m', 'x'] },
  { tool: 'pub', name: 'bad QoS', args: ['-t', 'a', '-m', 'x', '-q', '3'] },
  { tool: 'pub', name: 'wildcard in a publish topic', args: ['-t', 'a/#', '-m', 'x'] },
  { tool: 'pub', name: 'unknown option', args: ['-t', 'a', '-m', 'x', '--bogus'] },
  { tool: 'sub', name: 'no topic', args: [] },
  { tool: 'sub', name: 'bad filter', args: ['-t', 'a/#/b'] },
  { tool: 'sub', name: '-R with --retained-only', args: ['-t', 'a', '-R', '--retained-only'] },
  { tool: 'sub', name: '-c without a client id (3.1.1)', args: ['-t', 'a', '-c'] },
  { tool: 'sub', name: '-c without a client id (5)', args: ['-t', 'a', '-c', '-V', '5'] },
  { tool: 'pub', name: 'wrong password (3.1.1): CONNACK 5', args: ['-t', 'a', '-m', 'x', '-u', 'alice', '-P', 'wrong'] },
  { tool: 'pub', name: 'wrong password (5): CONNACK 0x87', args: ['-t', 'a', '-m', 'x', '-u', 'alice', '-P', 'wrong', '-V', '5'] },
  { tool: 'sub', name: 'unknown user (3.1.1)', args: ['-t', 'a', '-u', 'mallory', '-P', 'x'] },
  { tool: 'sub', name: '-W timeout: 27', args: ['-t', 'nothing/here', '-W', '1'] },
  // mosquitto_sub exits 1 or 8 (MOSQ_ERR_TLS) depending on whether the handshake fails inside its blocking connect.
  { tool: 'sub', name: 'TLS with the wrong CA', args: ['-h', 'localhost', '-p', '{tls}', '--cafile', '{wrongca}', '-t', 'a'], culexCode: 8 },
  { tool: 'sub', name: 'TLS to a plain port', args: ['-h', 'localhost', '-p', '{port}', '--cafile', '{cafile}', '-t', 'a'] },
  { tool: 'pub', name: 'unreadable file', args: ['-t', 'a', '-f', '/nonexistent/file'] },
  { tool: 'sub', name: '-F ending in a lone %', args: ['-t', 'a', '-F', '%t %'] },
  { tool: 'sub', name: '-F with an unknown specifier', args: ['-t', 'a', '-F', '%k'] },
  { tool: 'sub', name: '-F with an unknown escape', args: ['-t', 'a', '-F', '\\y'] },
  { tool: 'sub', name: 'bad keepalive', args: ['-t', 'a', '-k', '2'] },
  { tool: 'sub', name: 'unknown protocol version', args: ['-t', 'a', '-V', '4'] },
  { tool: 'pub', name: 'unknown -D property', args: ['-t', 'a', '-m', 'x', '-D', 'publish', 'colour', 'red'] },
  { tool: 'pub', name: '--will-payload without --will-topic', args: ['-t', 'a', '-m', 'x', '--will-payload', 'p'] },
];

describe('culex pub/sub against mosquitto_pub/sub on one Mosquitto', () => {
  let broker: MosquittoInstance;
  let certs: TestCerts;
  let vars: Record<string, string>;
  let collector: MqttClient;
  const collected: PublishPacket[] = [];

  before(async () => {
    certs = await makeCerts();
    const dir = certs.dir;
    const passwords = join(dir, 'compat.passwd');
    writeFileSync(passwords, '');
    const pw = await run('mosquitto_passwd', ['-b', passwords, 'alice', 'secret']);
    assert.equal(pw.code, 0, pw.stderr);
    broker = await startMosquitto({ tls: certs, extraConfig: `password_file ${passwords}\nrequire_certificate false` });
    const binfile = join(dir, 'payload.bin');
    writeFileSync(binfile, Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 10, 13, 0x22]));
    const wrongCa = join(dir, 'wrong-ca.crt');
    const other = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'wrong-ca.key'), '-subj', '/CN=Wrong CA', '-days', '1', '-out', wrongCa]);
    assert.equal(other.code, 0, other.stderr);
    const capath = join(dir, 'capath');
    mkdirSync(capath, { recursive: true });
    copyFileSync(certs.caFile, join(capath, 'ca.pem'));
    const rehash = await run('openssl', ['rehash', capath]);
    assert.equal(rehash.code, 0, rehash.stderr);
    vars = {
      capath,
      port: String(broker.port),
      tls: String(broker.tlsPort),
      cafile: certs.caFile,
      cert: certs.clientCertFile,
      key: certs.clientKeyFile,
      wrongca: wrongCa,
      binfile,
      closed: String(await freePort()),
    };
    const fixtures: string[][] = [
      ['-t', 'fx/a', '-m', 'hello', '-r'],
      ['-t', 'fx/b', '-m', 'with space', '-r', '-q', '1'],
      ['-t', 'fx/c', '-f', binfile, '-r', '-q', '2'],
      ['-t', 'fx/json', '-m', '{"t":21.5,"ok":true,"s":"q\\"x"}', '-r'],
      ['-t', 'fx/long', '-m', 'abcdefghijklmnopqrstuvwxyz', '-r'],
      ['-V', '5', '-t', 'fx5/p', '-m', 'props', '-r', '-D', 'publish', 'content-type', 'text/plain', '-D', 'publish',
        'user-property', 'k1', 'v1', '-D', 'publish', 'user-property', 'k2', 'v2', '-D', 'publish', 'response-topic',
        'reply/here', '-D', 'publish', 'correlation-data', 'corr', '-D', 'publish', 'payload-format-indicator', '1'],
    ];
    for (const args of fixtures) {
      const r = await mosquitto('pub', ['-p', vars.port!, ...args]);
      assert.equal(r.code, 0, r.stderr);
    }
    collector = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, clientId: 'compat-collector' });
    collector.on('message', (_t, _p, packet) => collected.push(packet));
    await collector.subscribe('cmp/#', { qos: 2 });
  });

  after(async () => {
    await collector?.end({ force: true });
    await broker?.stop();
  });

  const fill = (args: string[], extra: Record<string, string>): string[] =>
    args.map((a) => a.replace(/\{(\w+)\}/g, (_, name: string) => extra[name] ?? vars[name] ?? `{${name}}`));

  const withPort = (args: string[]): string[] => (args.some((a) => a === '-p' || a === '-L') ? args : ['-p', vars.port!, ...args]);

  it(`${subCases.length} mosquitto_sub invocations print the same and exit the same`, async () => {
    const results = await pool(6, subCases.map((c) => async () => {
      const [m, x] = await Promise.all([
        mosquitto('sub', withPort(fill(c.args, { tool: 'm' }))),
        culex(['sub', ...withPort(fill(c.args, { tool: 'c' }))]),
      ]);
      return { c, m, x };
    }));
    const failures: string[] = [];
    for (const { c, m, x } of results) {
      const norm = c.normalize ?? ((s: string) => s);
      const [got, want] = [norm(x.stdout.toString('latin1')), norm(m.stdout.toString('latin1'))];
      if (got !== want) failures.push(`${c.name}: output ${JSON.stringify(got)} instead of ${JSON.stringify(want)} (culex stderr: ${x.stderr})`);
      if (x.code !== m.code) failures.push(`${c.name}: exit code ${x.code} instead of ${m.code} (culex stderr: ${x.stderr}; mosquitto stderr: ${m.stderr})`);
    }
    assert.deepEqual(failures, []);
  });

  it(`${pubCases.length} mosquitto_pub invocations deliver the same messages`, async () => {
    const describe = (p: PublishPacket, prefix: string): string => {
      const props = p.properties ?? {};
      const shown = {
        contentType: props.contentType,
        userProperties: props.userProperties,
        responseTopic: props.responseTopic,
        correlationData: props.correlationData && Buffer.from(props.correlationData).toString(),
        payloadFormatIndicator: props.payloadFormatIndicator,
      };
      return `${p.topic.slice(prefix.length)}|${p.qos}|${Buffer.from(p.payload).toString('hex')}|${JSON.stringify(shown)}`;
    };
    const results = await pool(6, pubCases.map((c, i) => async () => {
      const prefixes = { m: `cmp/${i}/m`, c: `cmp/${i}/c` };
      const [m, x] = await Promise.all([
        mosquitto('pub', withPort(fill(c.args, { t: prefixes.m })), { stdin: c.stdin }),
        culex(['pub', ...withPort(fill(c.args, { t: prefixes.c }))], { stdin: c.stdin }),
      ]);
      return { c, m, x, prefixes };
    }));
    for (const { c, m, x, prefixes } of results) {
      assert.equal(m.code, 0, `${c.name}: mosquitto_pub failed: ${m.stderr}`);
      assert.equal(x.code, 0, `${c.name}: culex pub failed: ${x.stderr}`);
      const of = (prefix: string): string[] => collected.filter((p) => p.topic.startsWith(`${prefix}/`)).map((p) => describe(p, prefix));
      await waitFor(() => of(prefixes.m).length >= c.count && of(prefixes.c).length >= c.count, 10_000, `${c.name} messages`);
      assert.deepEqual(of(prefixes.c), of(prefixes.m), c.name);
      assert.equal(of(prefixes.m).length, c.count, `${c.name}: message count`);
    }
  });

  it(`${errorCases.length} failing invocations exit with the same code and culex says why in one line`, async () => {
    const results = await pool(6, errorCases.map((c) => async () => {
      const args = withPort(fill(c.args, {}));
      const [m, x] = await Promise.all([mosquitto(c.tool, args), culex([c.tool, ...args])]);
      return { c, m, x };
    }));
    for (const { c, m, x } of results) {
      assert.notEqual(m.code, 0, `${c.name}: mosquitto_${c.tool} succeeded`);
      assert.equal(x.code, c.culexCode ?? m.code, `${c.name}: exit code (culex: ${x.stderr.trim()} | mosquitto: ${m.stderr.trim()})`);
      const lines = x.stderr.trim().split('\n');
      assert.ok(lines[0]!.startsWith(`culex ${c.tool}: `) && lines[0]!.length > 20, `${c.name}: ${x.stderr}`);
      assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]!.startsWith('run ')), `${c.name}: more than one line: ${x.stderr}`);
    }
  });

  it('--remove-retained clears what it printed, as mosquitto_sub does', async () => {
    await Promise.all((['m', 'c'] as const).map(async (tool) => {
      for (const name of ['x', 'y']) {
        assert.equal((await mosquitto('pub', ['-p', vars.port!, '-t', `rr/${tool}/${name}`, '-m', name, '-r'])).code, 0);
      }
      const args = ['-p', vars.port!, '-t', `rr/${tool}/#`, '--remove-retained', '-T', `rr/${tool}/y`, '-W', '1', '-v'];
      const r: RunResult = tool === 'm' ? await mosquitto('sub', args) : await culex(['sub', ...args]);
      assert.equal(r.code, 27);
      // The removal itself comes back to the subscriber as an empty message.
      assert.equal(r.stdout.toString(), `rr/${tool}/x x\nrr/${tool}/x (null)\n`);
      const left = await mosquitto('sub', ['-p', vars.port!, '-t', `rr/${tool}/#`, '-W', '1', '-v']);
      assert.equal(left.stdout.toString(), `rr/${tool}/y y\n`, `${tool}: what is left`);
    }));
  });

  it('--quiet prints no error, as mosquitto_pub --quiet', async () => {
    const args = ['-p', vars.closed!, '-t', 'a', '-m', 'x', '--quiet'];
    const [m, x] = await Promise.all([mosquitto('pub', args), culex(['pub', ...args])]);
    assert.equal(x.code, m.code);
    assert.equal(x.stderr, m.stderr);
    assert.equal(x.stderr, '');
  });

  it('--json prints one object per message', async () => {
    const r = await culex(['sub', '-p', vars.port!, '-t', 'fx/a', '-t', 'fx/c', '-t', 'fx5/p', '-V', '5', '-C', '3', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines[0], { topic: 'fx/a', qos: 0, retain: true, payload: 'hello' });
    assert.deepEqual(lines[1], { topic: 'fx/c', qos: 0, retain: true, payloadBase64: Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 10, 13, 0x22]).toString('base64') });
    const props = lines[2]!['properties'] as Record<string, unknown>;
    assert.equal(props['contentType'], 'text/plain');
    assert.deepEqual(props['userProperties'], [['k1', 'v1'], ['k2', 'v2']]);
    assert.equal(props['correlationData'], Buffer.from('corr').toString('base64'));
  });
});
