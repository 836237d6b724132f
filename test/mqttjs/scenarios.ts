/**
 * Programs written for MQTT.js, each run once with MQTT.js and once with `culex/mqtt` against the same broker: a
 * scenario gets the module (`import mqtt from ...`) and writes what the program observes into a transcript, and
 * the two transcripts must be equal. Only what a program sees goes in (events in order, callback arguments, grants,
 * error codes, payloads), not timings; what is compared is its JSON form, as a program would log it.
 */
import type mqttDefault from '../../src/mqttjs/index.js';
import type { MqttClient } from '../../src/mqttjs/index.js';

export type Mqtt = typeof mqttDefault;
export type Log = (...entry: unknown[]) => void;

export interface Target {
  /** The broker. */
  url: string;
  /** The same broker through a proxy that can drop every connection. */
  proxyUrl: string;
  dropAll(): void;
  /** A port nothing listens on. */
  closedPort: number;
}

export interface Scenario {
  name: string;
  run(mqtt: Mqtt, target: Target, log: Log, tag: string): Promise<void>;
}

const EVENTS = ['connect', 'reconnect', 'close', 'offline', 'end', 'disconnect'] as const;

/** Records the client's life-cycle events in order. */
function watch(client: MqttClient): string[] {
  const seen: string[] = [];
  for (const event of EVENTS) client.on(event, () => seen.push(event));
  client.on('error', (error: Error & { code?: unknown }) => seen.push(`error ${String(error.code)}`));
  return seen;
}

function next(client: MqttClient, event: 'connect' | 'end' | 'message' | 'error' | 'close', timeoutMs = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    client.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export const scenarios: Scenario[] = [
  {
    name: 'callbacks, QoS 0/1/2 and Buffer payloads over MQTT 3.1.1 (the default)',
    async run(mqtt, { url }, log, tag) {
      const client = mqtt.connect(url, { clientId: `cb-${tag}` });
      const events = watch(client);
      client.on('connect', (connack) => log('connack', connack.cmd, connack.sessionPresent, connack.returnCode));
      await next(client, 'connect');
      log('connected', client.connected, client.options.protocolVersion);
      const messages: unknown[] = [];
      client.on('message', (topic, payload, packet) => {
        messages.push([topic, payload.toString('hex'), Buffer.isBuffer(payload), packet.cmd, packet.qos, packet.retain, packet.dup]);
      });
      const granted = await new Promise((resolve, reject) => {
        client.subscribe(['cb/a', 'cb/b/#'], { qos: 1 }, (error, grants) => (error ? reject(error) : resolve(grants)));
      });
      log('granted', granted);
      for (const qos of [0, 1, 2] as const) {
        await new Promise<void>((resolve) => {
          client.publish('cb/a', `m${qos}`, { qos }, (error) => {
            log('published', qos, error ?? null);
            resolve();
          });
        });
      }
      client.publish('cb/b/c', Buffer.from([0, 1, 255]), { qos: 1 });
      client.publish('cb/b/d', 'no options');
      await until(() => messages.length === 5, 'five messages');
      log('messages', messages);
      await new Promise<void>((resolve) => client.unsubscribe('cb/a', (error) => {
        log('unsubscribed', error ?? null);
        resolve();
      }));
      client.publish('cb/a', 'not delivered', { qos: 1 });
      await client.publishAsync('cb/b/e', 'after', { qos: 1 });
      await until(() => messages.length === 6, 'a sixth message');
      log('last message', messages[5]);
      await new Promise<void>((resolve) => client.end(() => resolve()));
      log('after end', client.connected, client.disconnecting, client.disconnected);
      log('events', events);
    },
  },
  {
    name: 'promises, retained messages and MQTT 5 properties',
    async run(mqtt, { url }, log, tag) {
      const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `async-${tag}` });
      const events = watch(client);
      log('connected', client.connected, client.options.protocolVersion);
      const sent = await client.publishAsync(`kept/${tag}`, 'kept', {
        qos: 1,
        retain: true,
        properties: { userProperties: { a: '1', b: ['x', 'y'] }, contentType: 'text/plain' },
      });
      log('publish resolved', sent?.cmd, sent?.topic === `kept/${tag}`, sent?.qos, sent?.retain, typeof sent?.messageId);
      log('qos 0 resolves', await client.publishAsync(`other/${tag}`, 'zero'));
      const message = next(client, 'message');
      const granted = await client.subscribeAsync({ [`kept/${tag}`]: { qos: 1 }, [`other/${tag}`]: { qos: 0, nl: true } });
      log('granted', granted.map((grant) => ({ ...grant, topic: grant.topic.replace(tag, 'TAG') })));
      const [topic, payload, packet] = (await message) as [string, Buffer, { retain: boolean; properties?: { userProperties?: unknown; contentType?: string } }];
      log('retained', topic === `kept/${tag}`, payload.toString(), packet.retain, packet.properties?.userProperties, packet.properties?.contentType);
      const unsuback = await client.unsubscribeAsync(`kept/${tag}`);
      log('unsuback', unsuback?.cmd);
      await client.publishAsync(`kept/${tag}`, '', { qos: 1, retain: true });
      await client.endAsync();
      log('events', events);
    },
  },
  {
    name: 'a refused connection is an error with the CONNACK code, and the client does not retry',
    async run(mqtt, { url }, log, tag) {
      for (const protocolVersion of [4, 5] as const) {
        const client = mqtt.connect(url, { protocolVersion, clientId: `refused-${tag}`, username: 'refuse-me', password: 'x', reconnectPeriod: 50 });
        const events = watch(client);
        const [error] = (await next(client, 'error')) as [Error & { code?: number }];
        log('error', protocolVersion, error.code, error instanceof Error);
        await sleep(400);
        log('after refusal', client.connected, client.reconnecting);
        await client.endAsync();
        log('events', events);
      }
    },
  },
  {
    // The grants of a refused SUBSCRIBE differ: MQTT.js passes the requested QoS and an error without a code,
    // culex/mqtt the refusal code in `qos` and as the error's `code` (mqttjs.test.ts checks those).
    name: 'refused subscriptions and a refused publish (MQTT 3.1.1 and 5)',
    async run(mqtt, { url }, log, tag) {
      for (const protocolVersion of [4, 5] as const) {
        const client = await mqtt.connectAsync(url, { protocolVersion, clientId: `deny-${tag}` });
        await new Promise<void>((resolve) => {
          client.subscribe(['allowed/x', 'forbidden/x'], { qos: 2 }, (error, granted) => {
            log('callback', protocolVersion, error instanceof Error, granted?.[0], granted?.[1]?.topic);
            resolve();
          });
        });
        try {
          await client.subscribeAsync('forbidden/y');
          log('subscribeAsync resolved');
        } catch (error) {
          log('subscribeAsync rejected', protocolVersion, error instanceof Error);
        }
        if (protocolVersion === 5) {
          try {
            await client.publishAsync('refused/x', 'no', { qos: 1 });
            log('publish resolved');
          } catch (error) {
            log('publish rejected', (error as { code?: number }).code);
          }
        }
        await client.endAsync();
      }
    },
  },
  {
    name: 'a lost connection: close, offline, reconnect, connect, subscriptions made again, Will sent',
    async run(mqtt, target, log, tag) {
      const watcher = await mqtt.connectAsync(target.url, { clientId: `watcher-${tag}` });
      const wills: string[] = [];
      watcher.on('message', (topic, payload) => wills.push(`${topic} ${payload.toString()}`));
      await watcher.subscribeAsync(`will/${tag}`, { qos: 1 });
      const client = await mqtt.connectAsync(target.proxyUrl, {
        clientId: `lost-${tag}`,
        reconnectPeriod: 100,
        will: { topic: `will/${tag}`, payload: Buffer.from('gone'), qos: 1, retain: false },
      });
      const events = watch(client);
      const received: string[] = [];
      client.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
      await client.subscribeAsync(`again/${tag}`, { qos: 1 });
      const reconnected = next(client, 'connect');
      // The subscription is made again on the new connection (a clean session has none left).
      const resubscribed = new Promise<void>((resolve) => {
        client.on('packetreceive', (packet) => packet.cmd === 'suback' && resolve());
      });
      target.dropAll();
      await reconnected;
      await until(() => wills.length === 1, 'the Will');
      log('will', wills.map((will) => will.replace(tag, 'TAG')));
      await resubscribed;
      await watcher.publishAsync(`again/${tag}`, 'after', { qos: 1 });
      await until(() => received.length === 1, 'a message after reconnecting');
      log('received', received.map((text) => text.replace(tag, 'TAG')));
      await client.endAsync();
      await watcher.endAsync();
      log('events', events);
    },
  },
  {
    name: 'nothing listens: an error per attempt, offline once, reconnect attempts; connectAsync rejects',
    async run(mqtt, { closedPort }, log) {
      const client = mqtt.connect({ host: '127.0.0.1', port: closedPort, protocol: 'mqtt', reconnectPeriod: 20 });
      const events = watch(client);
      await until(() => events.filter((event) => event.startsWith('error')).length === 3, 'three failed attempts');
      await client.endAsync();
      log('events', events, client.connected);
      try {
        await mqtt.connectAsync(`mqtt://127.0.0.1:${closedPort}`);
        log('connectAsync resolved');
      } catch (error) {
        log('connectAsync rejected', (error as { code?: string }).code);
      }
    },
  },
  {
    name: 'packetsend and packetreceive',
    async run(mqtt, { url }, log, tag) {
      const client = mqtt.connect(url, { clientId: `packets-${tag}` });
      const sent: string[] = [];
      const received: string[] = [];
      client.on('packetsend', (packet) => sent.push(packet.cmd));
      client.on('packetreceive', (packet) => received.push(packet.cmd));
      client.on('error', () => undefined);
      await next(client, 'connect');
      await client.subscribeAsync(`p/${tag}`, { qos: 1 });
      const delivered = next(client, 'message');
      await client.publishAsync(`p/${tag}`, 'x', { qos: 1 });
      await delivered;
      await client.endAsync();
      // MQTT.js writes its CONNECT inside `mqtt.connect()`, before a listener can be added: culex/mqtt reports it.
      log('sent', sent.filter((cmd) => cmd !== 'connect').sort(), 'received', received.sort());
    },
  },
];
