/**
 * Serves one password file and one ACL file with a real Mosquitto 2.0 and checks that what reaches each
 * subscriber, and which publications get through, is what the ACL evaluator predicts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { Acl } from '../../src/auth/acl.js';
import { parseAclFile } from '../../src/auth/acl-file.js';
import { formatHash, hashPassword } from '../../src/auth/password-file.js';
import { matches } from '../../src/topic/match.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';

// Every section can read `sync`, the marker that tells a subscriber everything before it has arrived.
const ACL = `
topic read public/#
topic read $SYS/broker/version
topic read sync

user admin
topic readwrite #

user alice
topic readwrite alice/#
topic deny alice/secret
topic write shared/in
topic read extra/+
topic read sync

user bob
topic read #
topic deny alice/#
topic write public/#

user carol
topic read sync

user dan
topic read sync

pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern deny devices/%c/locked
`;

interface Identity {
  name: string;
  clientId: string;
  username?: string;
}

const identities: Identity[] = [
  { name: 'anonymous', clientId: 'anon1' },
  { name: 'alice', clientId: 'alice-1', username: 'alice' },
  { name: 'alice as dev3', clientId: 'dev3', username: 'alice' },
  { name: 'bob', clientId: 'bob-1', username: 'bob' },
  { name: 'carol', clientId: 'dev1', username: 'carol' },
  { name: 'dan with a wildcard client id', clientId: 'dev+x', username: 'dan' },
];

const topics = [
  'public/news',
  'alice/x',
  'alice/secret',
  'shared/in',
  'extra/1',
  'extra/1/2',
  'devices/dev1/temp',
  'devices/dev1/locked',
  'devices/dev3/x',
  'users/carol/inbox',
  'users/dan/inbox',
  'anything/else',
];

const filters = ['#', 'alice/#', '+/secret', 'devices/+/temp', 'extra/+/+', '$SYS/broker/version', 'users/+/inbox'];

const dir = mkdtempSync(join(tmpdir(), 'culex-acl-'));
const acl = new Acl(parseAclFile(ACL));
let mosquitto: MosquittoInstance;
const password = (identity: Identity): string => `pw-${identity.username}`;

before(async () => {
  const users = ['admin', ...new Set(identities.flatMap((i) => (i.username ? [i.username] : [])))];
  writeFileSync(join(dir, 'passwd'), users.map((u) => `${u}:${formatHash(hashPassword(`pw-${u}`))}\n`).join(''));
  writeFileSync(join(dir, 'acl'), ACL);
  mosquitto = await startMosquitto({
    extraConfig: `password_file ${join(dir, 'passwd')}\nacl_file ${join(dir, 'acl')}\nmax_queued_messages 10000`,
  });
});

after(async () => {
  await mosquitto?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(identity: Identity): Promise<MqttClient> {
  const options: mqtt.IClientOptions = {
    clientId: identity.clientId,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  };
  if (identity.username) {
    options.username = identity.username;
    options.password = password(identity);
  }
  return mqtt.connectAsync(`mqtt://127.0.0.1:${mosquitto.port}`, options);
}

const admin: Identity = { name: 'admin', clientId: 'admin-1', username: 'admin' };

/** Collects topics (with payloads) arriving at a client until `sync` arrives. */
function collect(client: MqttClient): { received: Set<string>; synced: () => boolean } {
  const received = new Set<string>();
  let synced = false;
  client.on('message', (topic, payload) => {
    if (topic === 'sync') synced = true;
    else received.add(payload.length ? `${topic} ${payload.toString()}` : topic);
  });
  return { received, synced: () => synced };
}

test('what reaches each subscriber matches canRead and canSubscribe', async () => {
  const publisher = await connect(admin);
  try {
    for (const filter of filters) {
      const subscribers = await Promise.all(identities.map(connect));
      try {
        const inboxes = subscribers.map(collect);
        await Promise.all(subscribers.map((c) => c.subscribeAsync([filter, 'sync'], { qos: 0 })));
        for (const topic of topics) await publisher.publishAsync(topic, '', { qos: 1 });
        await publisher.publishAsync('sync', '', { qos: 1 });
        await waitFor(() => inboxes.every((i) => i.synced()), 10_000, `sync after ${filter}`);
        for (const [n, identity] of identities.entries()) {
          const client = acl.forClient(identity.clientId, identity.username);
          const got = [...inboxes[n]!.received].sort();
          if (filter.startsWith('$SYS')) {
            // Only Mosquitto knows its $SYS topics: check the one that always exists.
            const version = got.some((entry) => entry.startsWith('$SYS/broker/version '));
            assert.equal(version, client.canRead('$SYS/broker/version'), `${identity.name} ${filter}`);
            continue;
          }
          const expected = topics.filter((t) => matches(filter, t) && client.canRead(t)).sort();
          assert.deepEqual(got, expected, `${identity.name} subscribed to ${filter}`);
          // Refusing the SUBSCRIBE must never lose a message Mosquitto would have delivered.
          if (!client.canSubscribe(filter)) assert.deepEqual(expected, [], `${identity.name} ${filter}`);
        }
      } finally {
        await Promise.all(subscribers.map((c) => c.endAsync()));
      }
    }
  } finally {
    await publisher.endAsync();
  }
});

test('which publications get through matches canWrite', async () => {
  const observer = await connect(admin);
  try {
    const inbox = collect(observer);
    await observer.subscribeAsync(['#'], { qos: 0 });
    const publishers = await Promise.all(identities.map(connect));
    try {
      await Promise.all(
        publishers.map(async (client, n) => {
          for (const topic of topics) await client.publishAsync(topic, identities[n]!.name, { qos: 1 });
        }),
      );
      await observer.publishAsync('sync', '', { qos: 1 });
      await waitFor(inbox.synced, 10_000, 'sync at the observer');
    } finally {
      await Promise.all(publishers.map((c) => c.endAsync()));
    }
    const expected = identities
      .flatMap((identity) => {
        const client = acl.forClient(identity.clientId, identity.username);
        return topics.filter((t) => client.canWrite(t)).map((t) => `${t} ${identity.name}`);
      })
      .sort();
    assert.deepEqual([...inbox.received].sort(), expected);
  } finally {
    await observer.endAsync();
  }
});
