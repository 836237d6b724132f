/**
 * The dashboard in real headless Chromium (Debian chromium, playwright-core): sign in, see a client connect and
 * appear, kick it, watch a client's trace, delete a retained message, publish from the page and receive it.
 * Screenshots go to $CULEX_TEST_ARTIFACTS (default: a directory under the system's temporary one), not the tree.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
// @ts-expect-error: a plain ES module script without type declarations
import { buildDashboard } from '../../scripts/build-dashboard.mjs';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN, startOps, type OpsFixture } from './ops-fixture.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
const shots = process.env['CULEX_TEST_ARTIFACTS'] ?? join(tmpdir(), 'culex-test-artifacts');

describe('dashboard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-dashboard-'));
  let f: OpsFixture;
  let browser: Browser;
  let page: Page;
  const clients: RawClient[] = [];
  const connect = async (...args: Parameters<typeof RawClient.connect>): Promise<RawClient> => {
    const { client } = await RawClient.connect(...args);
    clients.push(client);
    return client;
  };

  before(async () => {
    await (buildDashboard as (o: { outdir: string }) => Promise<string>)({ outdir: dir });
    f = await startOps({ listeners: [{ port: 0 }, { port: 0, protocol: 'websockets', path: '/mqtt' }] }, { dashboardDir: dir });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    mkdirSync(shots, { recursive: true });
  });

  after(async () => {
    for (const client of clients) client.destroy();
    await browser?.close();
    await f?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is served at / without credentials, and refuses a wrong password', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${f.url}/`);
    await page.fill('#user', ADMIN.username);
    await page.fill('#password', 'wrong');
    await page.click('#signin');
    await page.waitForFunction(() => document.getElementById('login-error')!.textContent !== '', undefined, { timeout: 10_000 });
    assert.match(await page.textContent('#login-error') ?? '', /401 unauthorized/);
    assert.deepEqual(errors, []);
  });

  it('signs in and shows the overview', async () => {
    await page.fill('#password', ADMIN.password);
    await page.click('#signin');
    await page.waitForSelector('#card-version', { timeout: 10_000 });
    assert.match(await page.textContent('#card-version') ?? '', /\d+\.\d+\.\d+/);
    assert.equal(await page.isVisible('#login'), false, 'the sign-in form goes');
    // Two polls make a rate: the charts have their lines.
    await page.waitForFunction(() => (document.querySelector('#rates polyline')?.getAttribute('points') ?? '').includes(' '), undefined, { timeout: 15_000 });
    await page.screenshot({ path: join(shots, 'dashboard-overview.png') });
  });

  it('shows a client that connects, and kicks it', async () => {
    const victim = await connect(f.broker.port, { protocolVersion: 5, clientId: 'dash-kick' });
    await page.click('nav button[data-view="clients"]');
    const row = 'tr[data-client-id="dash-kick"]';
    await page.waitForSelector(row, { timeout: 10_000 });
    await page.screenshot({ path: join(shots, 'dashboard-clients.png') });
    await page.click(`${row} button:text("kick")`);
    assert.equal((await victim.expect('disconnect')).reasonCode, 0x98);
  });

  it("watches a client's trace", async () => {
    const traced = await connect(f.broker.port, { protocolVersion: 5, clientId: 'dash-traced' });
    const row = 'tr[data-client-id="dash-traced"]';
    await page.waitForSelector(row, { timeout: 10_000 });
    await page.click(`${row} button:text("details")`);
    await page.waitForFunction(() => document.getElementById('detail-json')!.textContent!.includes('dash-traced'), undefined, { timeout: 10_000 });
    await page.click('#trace-start');
    // The trace runs once the broker's tap is set.
    await waitFor(() => f.broker.stats.tap !== undefined, 10_000, 'the trace started');
    await traced.publish('dash/t', 'hello trace', 0);
    await page.waitForFunction(() => document.getElementById('trace')!.textContent!.includes('PUBLISH dash/t hello trace'), undefined, { timeout: 10_000 });
    await page.screenshot({ path: join(shots, 'dashboard-trace.png') });
  });

  it("removes a client's subscription, and ends an offline session", async () => {
    const sleeper = await connect(f.broker.port, { protocolVersion: 4, clientId: 'dash-sleeper', clean: false });
    await sleeper.subscribe('sleep/#', 1);
    await sleeper.subscribe('keep/#', 0);
    await page.click('nav button[data-view="clients"]');
    const row = '#clients tr[data-client-id="dash-sleeper"]';
    await page.waitForSelector(row, { timeout: 10_000 });
    await page.click(`${row} button:text("details")`);
    await page.waitForSelector('tr[data-filter="sleep/#"]', { timeout: 10_000 });
    await page.click('tr[data-filter="sleep/#"] button:text("remove")');
    await page.waitForSelector('tr[data-filter="sleep/#"]', { state: 'detached', timeout: 10_000 });
    assert.deepEqual(f.broker.client('dash-sleeper')?.subscriptions.map((sub) => sub.filter), ['keep/#']);
    sleeper.destroy();
    await waitFor(() => f.broker.client('dash-sleeper')?.connected === false, 5000, 'offline');
    await page.click('nav button[data-view="sessions"]');
    const session = '#sessions tr[data-client-id="dash-sleeper"]';
    await page.waitForSelector(session, { timeout: 10_000 });
    await page.click(`${session} button:text("end")`);
    await page.waitForSelector(session, { state: 'detached', timeout: 10_000 });
    assert.equal(f.broker.client('dash-sleeper'), undefined);
  });

  it('shows retained messages as a topic tree, and deletes one', async () => {
    for (const topic of ['dash/keep', 'dash/tree/a', 'dash/tree/b']) {
      f.broker.publish({ topic, payload: new TextEncoder().encode('kept'), qos: 0, retain: true });
    }
    await page.click('nav button[data-view="retained"]');
    const row = 'tr[data-topic="dash/keep"]';
    await page.waitForSelector(row, { timeout: 10_000 });
    assert.equal(await page.textContent('#retained-tree details[data-path="dash"] > summary'), 'dash (3)');
    assert.equal(await page.textContent('details[data-path="dash/tree"] > summary'), 'tree (2)');
    for (const topic of ['dash/tree/a', 'dash/tree/b']) f.broker.clearRetained(topic);
    await page.click(`${row} button:text("delete")`);
    await page.waitForSelector(row, { state: 'detached', timeout: 10_000 });
    assert.equal(f.broker.retainedCount, 0);
  });

  it('publishes from the page to a subscriber', async () => {
    const sub = await connect(f.broker.port, { protocolVersion: 4, clientId: 'dash-sub' });
    await sub.subscribe('from/page', 1);
    await page.click('nav button[data-view="publish"]');
    await page.fill('#pub-topic', 'from/page');
    await page.fill('#pub-payload', 'hello from the dashboard');
    await page.selectOption('#pub-qos', '1');
    await page.click('#pub-send');
    const got = await sub.expectPublish('from/page');
    assert.equal(Buffer.from(got.payload).toString('utf8'), 'hello from the dashboard');
    await page.waitForFunction(() => document.getElementById('pub-result')!.textContent!.includes('1 sessions took it'), undefined, { timeout: 10_000 });
  });

  it('connects its MQTT console over the WebSocket listener, subscribes, publishes and receives', async () => {
    const sub = await connect(f.broker.port, { protocolVersion: 4, clientId: 'dash-console-sub' });
    await sub.subscribe('console/#', 0);
    await page.click('nav button[data-view="console"]');
    await page.waitForFunction(() => (document.getElementById('mqtt-url') as HTMLInputElement).value.endsWith('/mqtt'), undefined, { timeout: 10_000 });
    await page.click('#mqtt-connect');
    await page.waitForFunction(() => document.getElementById('mqtt-state')!.textContent === 'connected', undefined, { timeout: 10_000 });
    await page.fill('#mqtt-filter', 'console/#');
    await page.click('#mqtt-subscribe');
    await page.waitForFunction(() => document.getElementById('mqtt-log')!.textContent!.includes('subscribed to console/#'), undefined, { timeout: 10_000 });
    await page.fill('#mqtt-topic', 'console/1');
    await page.fill('#mqtt-payload', 'hello from the console');
    await page.click('#mqtt-publish');
    await page.waitForFunction(() => document.getElementById('mqtt-log')!.textContent!.includes('console/1 hello from the console'), undefined, { timeout: 10_000 });
    assert.equal(Buffer.from((await sub.expectPublish('console/1')).payload).toString('utf8'), 'hello from the console');
    await page.screenshot({ path: join(shots, 'dashboard-console.png') });
  });
});
