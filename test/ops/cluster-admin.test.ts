// The admin API of a cluster node answers for every node: `node=NAME` goes to that node, `node=all` joins the
// lists of every live node (pages included), a node without an admin listener is named instead of failing the list;
// the `cluster` alarm follows the engine.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Alarms, OpsServer } from '../../src/ops/index.js';
import type { Page } from '../../src/ops/paging.js';
import { startCluster, type ClusterFixture } from '../cluster/cluster-fixture.js';
import { culex } from '../cli/run.js';
import { clusterName, startNodeProcess } from '../cluster/node-processes.js';
import { startNats } from '../helpers/nats.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN, credentialFiles, request, type ErrorBody } from './ops-fixture.js';

interface ClientItem {
  clientId: string;
  node: string;
}

type Joined = Page<ClientItem> & { errors?: Array<{ node: string; message: string }> };

for (const engine of ['memory', 'nats'] as const) {
  describe(`admin API across cluster nodes (${engine} engine)`, () => {
    let f: ClusterFixture;
    const servers: OpsServer[] = [];
    const clients: RawClient[] = [];
    const files = credentialFiles();
    let url = '';

    before(async () => {
      f = await startCluster({ engine, nodes: 3 });
      // node1 and node2 have admin listeners; node3 has none.
      for (const node of f.nodes.slice(0, 2)) {
        servers.push(
          await OpsServer.start({
            broker: node.broker,
            nodeName: node.status().nodeId,
            peers: node.adminPeers(),
            http: { port: 0, passwordFile: files.passwordFile, tokensFile: files.tokensFile },
          }),
        );
      }
      url = servers[0]!.url;
      for (const [i, id] of ['dev-a', 'dev-b', 'dev-c', 'dev-d'].entries()) {
        clients.push((await RawClient.connect(f.ports[i % 2]!, { protocolVersion: 5, clientId: id })).client);
      }
      clients.push((await RawClient.connect(f.ports[2]!, { protocolVersion: 5, clientId: 'dev-e' })).client);
      // Every node heard every other's heartbeat.
      const until = Date.now() + 10_000;
      while (f.nodes.some((n) => n.status().nodes.length < 3) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    });
    after(async () => {
      for (const c of clients) c.destroy();
      for (const s of servers) await s.close();
      await f.stop();
      rmSync(files.dir, { recursive: true, force: true });
    });

    it('node=all lists the clients of every node with an admin listener and names the one without', async () => {
      const answer = await request<Joined>(url, 'GET', '/api/v1/clients?node=all');
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(
        answer.json.items.map((c) => `${c.clientId}@${c.node}`),
        ['dev-a@node1', 'dev-b@node2', 'dev-c@node1', 'dev-d@node2'],
      );
      assert.deepEqual(answer.json.errors?.map((e) => e.node), ['node3']);
      assert.match(answer.json.errors![0]!.message, /no admin listener/);
    });

    it('node=all pages through every node in order, without repeats', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 10; i++) {
        const answer = await request<Joined>(url, 'GET', `/api/v1/clients?node=all&limit=1${cursor === undefined ? '' : `&cursor=${cursor}`}`);
        assert.equal(answer.status, 200, answer.text);
        seen.push(...answer.json.items.map((c) => c.clientId));
        cursor = answer.json.nextCursor;
        if (cursor === undefined) break;
      }
      assert.deepEqual(seen, ['dev-a', 'dev-b', 'dev-c', 'dev-d']);
    });

    it('node=NAME asks that node: a view and an action there', async () => {
      const view = await request<Joined>(url, 'GET', '/api/v1/clients?node=node2');
      assert.equal(view.status, 200, view.text);
      assert.deepEqual(
        view.json.items.map((c) => c.clientId),
        ['dev-b', 'dev-d'],
      );
      const kick = await request(url, 'DELETE', '/api/v1/clients/dev-d?node=node2');
      assert.equal(kick.status, 204, kick.text);
      await clients[3]!.closedWithin(5000);
      const again = await request(url, 'DELETE', '/api/v1/clients/dev-d?node=node2');
      assert.equal(again.status, 404, 'the error of the other node comes back as it is');
      assert.match(again.json.error.message, /not connected to node 'node2'/);
    });

    it('unknown nodes, nodes without an admin listener, and actions on all nodes are refused clearly', async () => {
      const unknown = await request<ErrorBody>(url, 'GET', '/api/v1/clients?node=nowhere');
      assert.equal(unknown.status, 404);
      assert.match(unknown.json.error.message, /no node 'nowhere' in the cluster/);
      const bare = await request<ErrorBody>(url, 'GET', '/api/v1/clients?node=node3');
      assert.equal(bare.status, 501);
      assert.match(bare.json.error.message, /node node3 has no admin listener/);
      const everywhere = await request<ErrorBody>(url, 'DELETE', '/api/v1/clients/dev-a?node=all');
      assert.equal(everywhere.status, 400);
      assert.match(everywhere.json.error.message, /an action names one node/);
    });
  });
}

it('culex broker --cluster --http: culex ctl --node all lists the clients of both node processes', async () => {
  const nats = await startNats();
  const files = credentialFiles();
  const cluster = clusterName();
  const http = ['--http', '127.0.0.1:0', '--http-passwd', files.passwordFile];
  const nodes = [await startNodeProcess(nats.urls, cluster, 'ca', http), await startNodeProcess(nats.urls, cluster, 'cb', http)];
  const clients: RawClient[] = [];
  try {
    for (const [i, node] of nodes.entries()) clients.push((await RawClient.connect(node.port, { protocolVersion: 5, clientId: `proc-${i}` })).client);
    await waitFor(() => /admin HTTP listening/.test(nodes[0]!.log()) && nodes[0]!.log().includes('node cb joined'), 10_000, 'the admin listener and the other node');
    const url = /admin HTTP listening on (\S+)/.exec(nodes[0]!.log())![1]!;
    const listed = await culex(['ctl', 'clients', '--node', 'all', '--json', '--url', url, '-u', ADMIN.username, '-P', ADMIN.password]);
    assert.equal(listed.code, 0, listed.stderr);
    const items = JSON.parse(listed.stdout.toString()) as ClientItem[];
    assert.deepEqual(
      items.map((c) => `${c.clientId}@${c.node}`),
      ['proc-0@ca', 'proc-1@cb'],
    );
  } finally {
    for (const c of clients) c.destroy();
    for (const node of nodes) await node.stop();
    await nats.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
});

it('the cluster alarm is raised while the engine is unreachable and cleared when it is back', async () => {
  const f = await startCluster({ engine: 'memory', nodes: 1 });
  try {
    const node = f.nodes[0]!;
    const alarms = new Alarms(node.broker, {}, { cluster: node.adminPeers().status });
    alarms.check();
    assert.equal(alarms.isActive('cluster'), false);
    f.memory!.reachable = false;
    alarms.check();
    assert.equal(alarms.isActive('cluster'), true);
    assert.match(alarms.active()[0]!.message, /cluster engine unreachable/);
    f.memory!.reachable = true;
    alarms.check();
    assert.equal(alarms.isActive('cluster'), false);
  } finally {
    await f.stop();
  }
});
