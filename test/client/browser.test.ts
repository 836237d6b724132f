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
import { CuttingProxy } from './proxy.js';

/** Records the workers a page makes and the messages posted to them, before any script of the page runs. */
const WATCH_WORKERS = `(() => {
  const seen = { urls: [], posts: 0 };
  globalThis.__workers = seen;
  const Original = globalThis.Worker;
  globalThis.Worker = class extends Original {
    constructor(url, options) { super(url, options); seen.urls.push(String(url)); }
    postMessage(...args) { seen.posts++; return super.postMessage(...args); }
  };
})();`;

interface PageState {
  client: { connected: boolean; end(options?: { force?: boolean }): Promise<void> };
  events: string[];
}

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

  /** A page with the bundle loaded and a client (keepalive 1 s) connected to `url`, kept as `globalThis.culex`. */
  async function pageWithClient(url: string, initScript: string, reconnectDelay: number) {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.addInitScript(initScript);
    await page.goto(`http://127.0.0.1:${httpPort}/`);
    await page.evaluate(async ([brokerUrl, delay]) => {
      const { connect: browserConnect } = await import('/culex.js' as string);
      const client = await browserConnect(brokerUrl, { keepalive: 1, reconnect: { initialDelay: delay, jitter: 0 } });
      const events: string[] = [];
      for (const name of ['connect', 'close', 'reconnect']) client.on(name, () => events.push(name));
      client.on('error', () => undefined);
      (globalThis as unknown as { culex: unknown }).culex = { client, events };
    }, [url, reconnectDelay] as const);
    return { page, errors };
  }

  it('runs keepalive on a worker timer where it can, on the page\'s timers where it cannot', async () => {
    const url = `ws://127.0.0.1:${mosquitto.wsPort}`;
    const withWorker = await pageWithClient(url, WATCH_WORKERS, 1000);
    await new Promise((r) => setTimeout(r, 2500));
    const seen = await withWorker.page.evaluate(() => ({
      workers: (globalThis as unknown as { __workers: { urls: string[]; posts: number } }).__workers,
      connected: (globalThis as unknown as { culex: PageState }).culex.client.connected,
    }));
    assert.equal(seen.workers.urls.length, 1);
    assert.match(seen.workers.urls[0]!, /^blob:/);
    // Keepalive checks every second or so, each a message to the worker.
    assert.ok(seen.workers.posts >= 2, `${seen.workers.posts} messages to the worker`);
    assert.equal(seen.connected, true, 'PINGREQ answered: still connected after 2.5 keepalive periods');
    await withWorker.page.evaluate(() => (globalThis as unknown as { culex: PageState }).culex.client.end());
    assert.deepEqual(withWorker.errors, []);
    await withWorker.page.close();

    // Worker scripts from blob: URLs refused (as a Content-Security-Policy without worker-src blob: does).
    const without = await pageWithClient(url, `globalThis.Worker = class { constructor() { throw new Error('refused'); } };`, 1000);
    await new Promise((r) => setTimeout(r, 2500));
    const state = await without.page.evaluate(() => ({
      connected: (globalThis as unknown as { culex: PageState }).culex.client.connected,
      events: (globalThis as unknown as { culex: PageState }).culex.events,
    }));
    assert.deepEqual(state, { connected: true, events: [] });
    await without.page.evaluate(() => (globalThis as unknown as { culex: PageState }).culex.client.end());
    assert.deepEqual(without.errors, []);
    await without.page.close();
  });

  it('reconnects at once on online, and on visibilitychange to visible, instead of waiting out the back-off', async () => {
    const proxy = await new CuttingProxy(mosquitto.wsPort!).start();
    const { page, errors } = await pageWithClient(`ws://127.0.0.1:${proxy.port}`, '', 60_000);
    const state = (): Promise<{ connected: boolean; events: string[] }> => page.evaluate(() => {
      const { client, events } = (globalThis as unknown as { culex: PageState }).culex;
      return { connected: client.connected, events: [...events] };
    });
    try {
      for (const trigger of ['online', 'visible'] as const) {
        proxy.dropAll();
        await page.waitForFunction(() => !(globalThis as unknown as { culex: PageState }).culex.client.connected,
          undefined, { timeout: 5000 });
        if (trigger === 'online') {
          await page.context().setOffline(true);
          await page.context().setOffline(false);
        } else {
          await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
        }
        await page.waitForFunction(() => (globalThis as unknown as { culex: PageState }).culex.client.connected,
          undefined, { timeout: 5000 });
      }
      const { events } = await state();
      assert.deepEqual(events, ['close', 'reconnect', 'connect', 'close', 'reconnect', 'connect']);
      assert.deepEqual(errors, []);
    } finally {
      await page.evaluate(() => (globalThis as unknown as { culex: PageState }).culex.client.end({ force: true }));
      await page.close();
      await proxy.stop();
    }
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
