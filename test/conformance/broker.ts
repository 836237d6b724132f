// A Culex broker configured as the Eclipse Paho interoperability suite expects: anonymous TCP on 127.0.0.1 at the
// port given as the first argument (0 = any; the bound port is printed as `PORT <n>`), keepalive capped at 60 s,
// and subscriptions to `test/nosubscribe` refused. Runs until SIGINT/SIGTERM. With a NATS URL as the second
// argument it is node 1 of a three-node cluster on that NATS (the other two nodes run in this process too, on
// ports of their own), so the suite meets one node of a cluster.
import { Broker, stderrLogger, type BrokerOptions } from '../../src/broker/index.js';
import { NatsEngine } from '../../src/cluster/nats-engine.js';
import { ClusterNode } from '../../src/cluster/node.js';

const nosubscribe = process.env.CONFORMANCE_NOSUBSCRIBE_TOPIC ?? 'test/nosubscribe';
const port = Number(process.argv[2] ?? 0);
const nats = process.argv[3];
const logger = stderrLogger('warn');

const options = (listenPort: number): BrokerOptions => ({
  listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port: listenPort }],
  allowAnonymous: true,
  limits: { maxKeepalive: 60 },
  logger,
  hooks: {
    // 0x80 (Unspecified error) rather than 0x87 (Not authorized): the suite's v5 test_subscribe_failure accepts
    // exactly 0x80 and its codec rejects any other failure code; in 3.1.1 0x80 is the only failure code anyway.
    authorizeSubscribe: ({ subscription }) => (subscription.topicFilter === nosubscribe ? 0x80 : true),
  },
});

let stopAll: () => Promise<unknown>;
if (nats === undefined) {
  const broker = new Broker(options(port));
  await broker.listen();
  console.log(`PORT ${broker.port}`);
  stopAll = () => broker.close();
} else {
  const cluster = `conformance${process.pid}`;
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < 3; i++) {
    const engine = new NatsEngine({ servers: [nats], cluster, nodeId: `node${i + 1}` });
    const node = new ClusterNode(options(i === 0 ? port : 0), { engine, subjects: engine.subjects, logger });
    await node.start();
    nodes.push(node);
  }
  console.log(`PORT ${nodes[0]!.broker.port}`);
  stopAll = () => Promise.all(nodes.map((node) => node.stop()));
}

const stop = (): void => {
  void stopAll().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
