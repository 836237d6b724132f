// The walkthrough of docs/iothub.md, run as written: its shell blocks in one bash script, its device program
// saved as the file it names, `culex` on the PATH running this checkout.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { freePort } from '../helpers/ports.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'culex-walkthrough-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The fenced blocks of the Walkthrough section, in order. */
function walkthrough(): Array<{ lang: string; code: string }> {
  const doc = readFileSync(join(ROOT, 'docs/iothub.md'), 'utf8');
  const start = doc.indexOf('## Walkthrough');
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }));
}

test('the README walkthrough runs verbatim', async () => {
  const blocks = walkthrough();
  const script = blocks.filter((b) => b.lang === 'sh').map((b) => b.code).join('\n');
  const program = blocks.find((b) => b.lang === 'js')!;
  const fileName = /^\/\/ (\S+)/.exec(program.code)![1]!;
  writeFileSync(join(work, fileName), program.code);
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'));
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'culex'), `#!/bin/sh\nexec "${process.execPath}" --import "${join(ROOT, 'node_modules/tsx/dist/loader.mjs')}" "${join(ROOT, 'src/cli/main.ts')}" "$@"\n`);
  chmodSync(join(bin, 'culex'), 0o755);

  const env = {
    ...process.env,
    PATH: `${bin}:${process.env['PATH']}`,
    MQTT_PORT: String(await freePort()),
    WSS_PORT: String(await freePort()),
    SERVICE_PORT: String(await freePort()),
  };
  // Its own process group, so the hub it starts in the background is stopped whatever happens.
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: work, env, detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // the group is gone already
  }
  assert.equal(code, 0, `walkthrough failed:\n${stdout}\n${stderr}`);

  assert.match(stdout, /^HostName=localhost;DeviceId=thermostat1;SharedAccessKey=[^;]+;GatewayHostName=localhost:\d+$/m);
  assert.match(stdout, /"deviceId":"thermostat1".*"connectionState":"Disconnected"/);
  assert.match(stdout, /"desired":\{"\$version":2,"targetTemperature":22\}/);
  assert.match(stdout, /\{"messageId":"c2d-1","enqueuedTimeUtc":"[^"]+"\}/);
  assert.match(stdout, /"deviceId":"sensor2","status":"enabled","authentication":\{"type":"sas"/);
  assert.match(stdout, /^desired target: 22$/m);
  assert.match(stdout, /^cloud-to-device: hello thermostat priority high$/m);
  const events = JSON.parse(stdout.split('\n').find((line) => line.includes('"reading-1"'))!) as Array<Record<string, unknown>>;
  assert.equal(events.length, 1);
  assert.deepEqual(events[0]!['properties'], { unit: 'celsius' });
  assert.equal(events[0]!['body'], '{"temperature":21.5}');
  assert.match(stdout, /"reported":\{"\$version":2,"firmware":"1.0.0"\}/);
});
