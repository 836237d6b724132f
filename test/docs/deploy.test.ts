/**
 * docs/deploy.md as a user follows it: the systemd unit passes `systemd-analyze verify`, the configuration it
 * shows starts `culex broker` with users over TCP and a Unix socket, and the container's command lines (the image's
 * default and the documented trial) start the broker. The image itself is not built here (no Docker daemon, no
 * registry for base images); its command lines and the files it copies are what can drift, and those are checked.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { startCulexBroker } from '../cli/culex-broker.js';
import { culex, culexArgv } from '../cli/run.js';
import { waitFor } from '../helpers/wait.js';
import { blockWith, root } from './snippets.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The JSON arrays of a Dockerfile instruction (`ENTRYPOINT ["culex", "broker"]`). */
function dockerArray(dockerfile: string, instruction: string): string[] {
  const line = dockerfile.split('\n').find((l) => l.startsWith(`${instruction} `));
  assert.ok(line, `Dockerfile has no ${instruction}`);
  return JSON.parse(line.slice(instruction.length + 1)) as string[];
}

describe('docs/deploy.md', () => {
  it('has a systemd unit that systemd-analyze verify accepts without a warning', async () => {
    const unit = readFileSync(join(root, 'docs/culex.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/bin\/culex broker -c \/etc\/culex\/culex\.json$/m);
    // verify wants the command to exist: this checkout's culex stands in for the installed one.
    const [node, entry] = await culexArgv([]);
    const copy = join(dir, 'culex.service');
    writeFileSync(copy, unit.replace('ExecStart=/usr/bin/culex', `ExecStart=${node} ${entry}`));
    const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr, '');
  });

  it('gives a configuration that serves users over TCP and the Unix socket, reloads on SIGHUP and stops on SIGTERM', async () => {
    const config = blockWith('docs/deploy.md', 'json', '"listeners"')
      .replaceAll('/run/culex', dir)
      .replaceAll('/var/lib/culex', join(dir, 'state'))
      .replace('"host": "0.0.0.0", "port": 1883', '"host": "127.0.0.1", "port": 0');
    writeFileSync(join(dir, 'culex.json'), config);
    const passwd = await culex(['passwd', '-c', '-b', join(dir, 'passwd'), 'alice', 'secret']);
    assert.equal(passwd.code, 0, passwd.stderr);
    const broker = await startCulexBroker(['-c', join(dir, 'culex.json')], 1);
    try {
      const socket = join(dir, 'mqtt.sock');
      await waitFor(() => broker.log().includes(`listening on mqtt+unix://${socket} (anonymous clients refused)`), 10_000, broker.log());
      assert.ok(existsSync(join(dir, 'state')), 'the store is in the data directory');
      await assert.rejects(connect(`unix://${socket}`, { reconnect: false }), /Not authorized|not authori[sz]ed/i);
      for (const url of [`unix://${socket}`, `mqtt://127.0.0.1:${broker.ports[0]}`]) {
        const client = await connect(url, { username: 'alice', password: 'secret', reconnect: false });
        const got = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(String(payload))));
        await client.subscribe('deploy/t', { qos: 1 });
        await client.publish('deploy/t', url, { qos: 1 });
        assert.equal(await got, url);
        await client.end();
      }
      broker.signal('SIGHUP');
      await waitFor(() => broker.log().includes('SIGHUP: password, ACL and TLS files re-read'), 10_000, `the reload logged: ${broker.log()}`);
    } finally {
      assert.equal(await broker.stop(), 0, broker.log());
    }
  });

  it('has a Dockerfile whose broker command lines start culex broker', async () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    for (const copied of ['package.json', 'package-lock.json']) assert.ok(existsSync(join(root, copied)));
    assert.match(readFileSync(join(root, '.dockerignore'), 'utf8'), /^node_modules$/m);
    assert.deepEqual(dockerArray(dockerfile, 'ENTRYPOINT'), ['culex', 'broker']);
    const trial = blockWith('docs/deploy.md', 'sh', 'docker build')
      .split('\n').find((line) => line.includes('--allow-anonymous'))!;
    const documented = [
      dockerArray(dockerfile, 'CMD'),
      // The documented trial: what follows the image name.
      trial.slice(trial.indexOf(' culex ') + 7).trim().split(/\s+/),
    ];
    for (const args of documented) {
      const data = mkdtempSync(join(dir, 'data-'));
      // The container's port is published by Docker; here any free one does, and /data is a temporary directory.
      const broker = await startCulexBroker([...args.map((arg) => (arg === '/data' ? data : arg)), '--port', '0'], 1);
      try {
        assert.match(broker.log(), /listening on mqtt:\/\/0\.0\.0\.0:\d+ /);
        assert.match(broker.log(), new RegExp(`state kept in ${data}`));
      } finally {
        assert.equal(await broker.stop(), 0, broker.log());
      }
    }
  });
});
