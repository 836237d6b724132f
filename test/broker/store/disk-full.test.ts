// The data directory on a 1 MiB tmpfs: once it is full, publishers get negative acknowledgements, the broker
// stays up, nothing acknowledged is lost, and writes succeed again when space returns. And the write-ahead log on
// its own on a full tmpfs: a record that does not fit leaves nothing behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LevelStore } from '../../../src/broker/store/level-store.js';
import { StoreError } from '../../../src/broker/store/store-errors.js';
import { LogRecordBuilder } from '../../../src/broker/store/log-record.js';
import { readLog, WriteAheadLog } from '../../../src/broker/store/write-ahead-log.js';
import type { Logger } from '../../../src/broker/logger.js';
import { silentLogger } from '../../../src/broker/logger.js';
import { startBroker, text } from '../core/fixture.js';
import { waitFor } from '../../helpers/wait.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'culex-disk-full-'));
let mounted = false;
let mountError = '';

before(() => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    mountError = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
  }
});

after(() => {
  if (mounted) execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

describe('disk full', () => {
  it('refuses with negative acks, stays up, loses nothing acknowledged, recovers when space returns', async (t) => {
    if (!mounted) {
      t.skip(`cannot mount a tmpfs (needs root): ${mountError}`);
      return;
    }
    const dir = join(mountPoint, 'data');
    const errors: string[] = [];
    const logger: Logger = { ...silentLogger, error: (message: string) => errors.push(message) };
    let broker = await startBroker({ store: new LevelStore(dir), logger });
    const acked: string[] = [];
    try {
      const session = { protocolVersion: 5 as const, clientId: 'offline', clean: false, properties: { sessionExpiryInterval: 600 } };
      const sub = await broker.connect(session);
      await sub.subscribe('fill/#', 1);
      sub.disconnect();
      await sub.closedWithin();

      const pub = await broker.connect({ protocolVersion: 5, clientId: 'filler' });
      const payload = 'x'.repeat(8 * 1024);
      let refusedWith: number | undefined;
      // The message whose write hits the full disk was routed already: its PUBACK waits until it is stored.
      let held: { id: string; packetId: number } | undefined;
      // 1 MiB holds fewer than 128 such messages: stop at the first refusal.
      for (let i = 0; i < 400 && refusedWith === undefined; i++) {
        const packetId = 1000 + i;
        pub.send({ type: 'publish', topic: 'fill/a', payload: new TextEncoder().encode(`${i}:${payload}`), qos: 1, packetId, retain: false, dup: false });
        let ack;
        try {
          ack = await pub.expect('puback', 1500);
        } catch {
          held = { id: String(i), packetId };
          continue;
        }
        const code = ack.reasonCode ?? 0;
        if (code === 0) acked.push(String(i));
        else refusedWith = code;
      }
      assert.ok(refusedWith === 0x80 || refusedWith === 0x97, `expected a negative PUBACK, got ${refusedWith}`);
      assert.ok(acked.length > 10, `some messages stored before the disk filled (${acked.length})`);
      assert.ok(errors.some((m) => /store write .* failed: .*no space left on device/i.test(m)), `logged: ${errors.join(' | ')}`);

      // Still serving: a new client connects and a QoS 0 message flows.
      const probe = await broker.connect({ protocolVersion: 5 });
      await probe.subscribe('probe', 0);
      await probe.publish('probe', 'alive', 0);
      assert.equal(text((await probe.expectPublish('probe')).payload), 'alive');
      // Still full: refused again.
      assert.notEqual(await pub.publish('fill/a', `more:${payload}`, 1), 0);

      execFileSync('mount', ['-o', 'remount,size=8m', mountPoint]);
      assert.equal(await pub.publish('fill/a', 'after space returned', 1), 0);
      acked.push('after space returned');
      if (held !== undefined) {
        const { id, packetId } = held;
        await waitFor(() => pub.pending().some((p) => p.type === 'puback' && p.packetId === packetId && (p.reasonCode ?? 0) === 0), 5000, `the held PUBACK ${packetId}`);
        acked.push(id);
      }
    } finally {
      await broker.close();
    }

    broker = await startBroker({ store: new LevelStore(dir), logger });
    try {
      const sub = await broker.connect({ protocolVersion: 5, clientId: 'offline', clean: false, properties: { sessionExpiryInterval: 600 } });
      const received = new Set<string>();
      for (let i = 0; i < 1000 && received.size < acked.length; i++) {
        const p = await sub.expect('publish', 5000);
        received.add(text(p.payload).split(':')[0]!);
      }
      assert.deepEqual(acked.filter((id) => !received.has(id)), [], 'every acknowledged message arrives');
    } finally {
      await broker.close();
    }
  });

  it('the log refuses a record the disk cannot take whole, keeps the ones before it, and goes on when space returns', (t) => {
    const point = mkdtempSync(join(tmpdir(), 'culex-log-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', point], { stdio: 'pipe' });
    } catch (err) {
      rmSync(point, { recursive: true, force: true });
      t.skip(`cannot mount a tmpfs (needs root): ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
      return;
    }
    try {
      const dir = join(point, 'log');
      const log = new WriteAheadLog(dir, false, 1);
      const builder = new LogRecordBuilder();
      // A record of one put: key `k{i}`, 10,000 bytes of value.
      const record = (i: number): Buffer => {
        const key = `k${i}`;
        builder.begin();
        const at = builder.put(key.length, 10_000);
        builder.buf.write(key, at);
        builder.buf.fill(i, at + key.length + 4, at + key.length + 4 + 10_000);
        return builder.finish();
      };
      let size = 8;
      let appended = 0;
      let error: unknown;
      for (let i = 0; i < 100 && error === undefined; i++) {
        try {
          log.append(record(i));
          appended++;
          size += 8 + 9 + `k${i}`.length + 10_000;
        } catch (err) {
          error = err;
        }
      }
      const segment = join(dir, '0000000000000001.log');
      assert.ok(error instanceof StoreError && error.code === 'io', String(error));
      assert.match(error.message, new RegExp(`store write in ${segment} failed: .*no space left on device`, 'i'));
      assert.ok(appended > 3, `records before the disk filled: ${appended}`);
      assert.equal(statSync(segment).size, size, 'nothing of the refused record stays');

      execFileSync('mount', ['-o', 'remount,size=1m', point]);
      log.append(record(999));
      log.close(false);
      const { batches } = readLog(dir);
      assert.equal(batches.length, appended + 1);
      assert.deepEqual(batches.at(-1)![0]!.key, Buffer.from('k999'));
    } finally {
      execFileSync('umount', [point]);
      rmSync(point, { recursive: true, force: true });
    }
  });
});
