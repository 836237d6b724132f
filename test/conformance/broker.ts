// A Culex broker configured as the Eclipse Paho interoperability suite expects: anonymous TCP on 127.0.0.1 at the
// port given as the first argument (0 = any; the bound port is printed as `PORT <n>`), keepalive capped at 60 s,
// and subscriptions to `test/nosubscribe` refused. Runs until SIGINT/SIGTERM.
import { Broker, stderrLogger } from '../../src/broker/index.js';

const nosubscribe = process.env.CONFORMANCE_NOSUBSCRIBE_TOPIC ?? 'test/nosubscribe';

const broker = new Broker({
  listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port: Number(process.argv[2] ?? 0) }],
  allowAnonymous: true,
  limits: { maxKeepalive: 60 },
  logger: stderrLogger('warn'),
  hooks: {
    // 0x80 (Unspecified error) rather than 0x87 (Not authorized): the suite's v5 test_subscribe_failure accepts
    // exactly 0x80 and its codec rejects any other failure code; in 3.1.1 0x80 is the only failure code anyway.
    authorizeSubscribe: ({ subscription }) => (subscription.topicFilter === nosubscribe ? 0x80 : true),
  },
});

await broker.listen();
console.log(`PORT ${broker.port}`);

const stop = (): void => {
  void broker.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
