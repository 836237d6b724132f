import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
// @ts-expect-error: a plain ES module script without type declarations
import { buildBrowser } from '../../scripts/build-browser.mjs';
import { connect } from '../../src/client/index.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

describe('browser build', () => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-browser-'));
  const bundle = join(dir, 'culex.js');
  let mosquitto: MosquittoInstance;
  let server: Server;
  let httpPort = 0;
  let browser: Browser;

  before(async () => {
    await (buildBrowser as (o: { outfile: string }) => Promise<string>)({ outfile: bundle });
    mosquitto = await startMosquitto({ websockets: true });
    server = createServer((req, res) => {
      if (req.url === '/culex.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(readFileSync(bundle));
      } else {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>culex</title>');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    httpPort = typeof address === 'object' && address ? address.port : 0;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await mosquitto.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has no Node built-ins, Buffer or process in the bundle', () => {
    const code = readFileSync(bundle, 'utf8');
    assert.deepEqual(code.match(/node:|\bBuffer\b|\bprocess\b/g), null);
  });

  it('exchanges QoS 0, 1 and 2 messages with a broker from headless Chromium', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${httpPort}/`);
    const nodeClient = await connect(`mqtt://127.0.0.1:${mosquitto.port}`);
    const fromBrowser: string[] = [];
    nodeClient.on('message', (topic, payload) => fromBrowser.push(`${topic} ${new TextDecoder().decode(payload)}`));
    await nodeClient.subscribe('from-browser/#', { qos: 2 });

    await page.evaluate(async (url) => {
      const { connect: browserConnect } = await import('/culex.js' as string);
      const client = await browserConnect(url);
      const got: string[] = [];
      client.on('message', (topic: string, payload: Uint8Array, packet: { qos: number }) =>
        got.push(`${topic} ${new TextDecoder().decode(payload)} ${packet.qos}`));
      await client.subscribe('to-browser/#', { qos: 2 });
      (globalThis as unknown as { culex: unknown }).culex = { client, got };
      for (const qos of [0, 1, 2]) await client.publish(`from-browser/${qos}`, `hi ${qos}`, { qos });
    }, `ws://127.0.0.1:${mosquitto.wsPort}`);

    for (const qos of [0, 1, 2] as const) await nodeClient.publish(`to-browser/${qos}`, `hello ${qos}`, { qos });
    await page.waitForFunction(() => (globalThis as unknown as { culex: { got: string[] } }).culex.got.length === 3,
      undefined, { timeout: 10_000 });
    const got = await page.evaluate(async () => {
      const { client, got } = (globalThis as unknown as { culex: { client: { end(): Promise<void> }; got: string[] } }).culex;
      await client.end();
      return got;
    });
    assert.deepEqual(got.sort(), ['to-browser/0 hello 0 0', 'to-browser/1 hello 1 1', 'to-browser/2 hello 2 2']);
    assert.deepEqual(fromBrowser.sort(), ['from-browser/0 hi 0', 'from-browser/1 hi 1', 'from-browser/2 hi 2']);
    assert.deepEqual(errors, []);
    await nodeClient.end();
    await page.close();
  });
});
