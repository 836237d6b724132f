/**
 * `culex pub -l` / `-f` on large input: everything is delivered in order; progress is shown on a terminal (a
 * pseudo-terminal made by script(1)) and never when stderr is piped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { connect, type MqttClient } from '../../src/client/index.js';
import { waitFor } from '../helpers/wait.js';
import { culex, culexArgv, run } from './run.js';
const LINES = 20_000;

describe('culex pub on large input', () => {
  let broker: Broker;
  let collector: MqttClient;
  const received = new Map<string, string[]>();
  const dir = mkdtempSync(join(tmpdir(), 'culex-pub-progress-'));
  const linesFile = join(dir, 'lines.txt');
  const bigFile = join(dir, 'big.bin');

  before(async () => {
    writeFileSync(linesFile, Array.from({ length: LINES }, (_, i) => `line ${i}`).join('\n') + '\n');
    writeFileSync(bigFile, Buffer.alloc(3 * 1024 * 1024, 7));
    broker = new Broker({ listeners: [{ port: 0 }], sysInterval: 0, logger: silentLogger, limits: { maxPacketSize: 8 * 1024 * 1024, maxQueuedMessages: 100_000, maxInflight: 1000 } });
    await broker.listen();
    collector = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, properties: { maximumPacketSize: 8 * 1024 * 1024 } });
    collector.on('message', (topic, payload) => {
      const list = received.get(topic) ?? [];
      list.push(payload.length > 1000 ? `${payload.length} bytes` : Buffer.from(payload).toString());
      received.set(topic, list);
    });
    await collector.subscribe('big/#', { qos: 1 });
  });

  after(async () => {
    await collector?.end({ force: true });
    await broker?.close();
  });

  it(`-l publishes ${LINES} piped lines in order and shows no progress when piped`, async () => {
    const r = await culex(['pub', '-p', String(broker.port), '-t', 'big/lines', '-l', '-q', '1'], { stdin: readFileSync(linesFile) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    await waitFor(() => (received.get('big/lines')?.length ?? 0) >= LINES, 20_000, 'all lines');
    const lines = received.get('big/lines')!;
    assert.equal(lines.length, LINES);
    assert.equal(lines[0], 'line 0');
    assert.equal(lines[LINES - 1], `line ${LINES - 1}`);
    assert.ok(lines.every((l, i) => l === `line ${i}`), 'order kept');
  });

  it('shows count and rate on a terminal for -l and -f', async () => {
    const shell = (cmd: string) => run('script', ['-qec', cmd, '/dev/null']);
    const base = (await culexArgv(['pub', '-p', String(broker.port)])).join(' ');
    const lines = await shell(`${base} -t big/tty-lines -l < ${linesFile}`);
    assert.equal(lines.code, 0, lines.stdout.toString());
    assert.match(lines.stdout.toString(), new RegExp(`${LINES} messages \\(\\d+ messages/s\\)`));
    const file = await shell(`${base} -t big/tty-file -f ${bigFile} -q 1`);
    assert.equal(file.code, 0, file.stdout.toString());
    assert.match(file.stdout.toString(), /3\.0 MiB of 3\.0 MiB \([\d.]+ [KMG]?i?B\/s\)/);
    await waitFor(() => received.get('big/tty-file')?.[0] === `${3 * 1024 * 1024} bytes`, 10_000, 'the file');
  });
});
