/** SCRAM-SHA-256 between our client and our broker (FileAuth with a SCRAM credential file). */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileAuth } from '../../src/auth/file-auth.js';
import { deriveScramCredential, ScramError } from '../../src/auth/scram.js';
import { formatScramCredential } from '../../src/auth/scram-credentials.js';
import { Broker, silentLogger } from '../../src/broker/index.js';
import type { AuthenticateResult, BrokerHooks } from '../../src/broker/hooks.js';
import { connect, ConnectionRefusedError, connectScram, InvalidOptionError, scramSha256, type ScramSha256Auth } from '../../src/client/index.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-scram-client-'));
const scramFile = join(dir, 'scram');

/** A broker serving the credential file; `tamper` may change each authentication result before it is sent. */
async function startBroker(tamper?: (result: AuthenticateResult) => AuthenticateResult): Promise<{ broker: Broker; url: string }> {
  const auth = await FileAuth.load({ scramFile });
  const hooks: BrokerHooks = auth.hooks;
  const inner = hooks.authenticate!;
  if (tamper) hooks.authenticate = async (context) => tamper(await inner(context));
  const broker = new Broker({ logger: silentLogger, hooks, listeners: [{ host: '127.0.0.1', port: 0 }] });
  await broker.listen();
  return { broker, url: `mqtt://127.0.0.1:${broker.boundListeners[0]!.port}` };
}

/** The client options that authenticate with `auth`. */
function scramOptions(auth: ScramSha256Auth) {
  const { authenticationMethod, authenticationData, onAuth, onAuthSuccess } = auth;
  return { protocolVersion: 5 as const, authenticationMethod, authenticationData, onAuth, onAuthSuccess };
}

/** The client left: no session of it stays connected. */
async function leftBroker(broker: Broker): Promise<void> {
  for (let i = 0; i < 50 && broker.stats.clientsConnected > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(broker.stats.clientsConnected, 0);
}

describe('SCRAM-SHA-256 in the client', () => {
  let broker: Broker;
  let url: string;
  before(async () => {
    writeFileSync(scramFile, `${formatScramCredential('alice', await deriveScramCredential('alice-secret'))}\n`);
    ({ broker, url } = await startBroker());
  });
  after(() => broker.close());

  it('connects with the right password and verifies the server', async () => {
    const client = await connectScram(url, { username: 'alice', password: 'alice-secret', clientId: 'scram-ok', reconnect: false });
    try {
      assert.equal(client.connack?.reasonCode, 0);
      await client.subscribe('scram/t', { qos: 1 });
      const got = new Promise<string>((resolve) => client.on('message', (_t, payload) => resolve(Buffer.from(payload).toString())));
      await client.publish('scram/t', 'hello', { qos: 1 });
      assert.equal(await got, 'hello');
    } finally {
      await client.end();
    }
  });

  it('starts every connect with a fresh nonce, here across credential renewals', async () => {
    const auth = scramSha256({ username: 'alice', password: 'alice-secret' });
    const firsts: string[] = [];
    const client = await connect(url, {
      protocolVersion: 5,
      clientId: 'scram-renew',
      authenticationMethod: auth.authenticationMethod,
      authenticationData: () => {
        const first = auth.authenticationData();
        firsts.push(Buffer.from(first).toString());
        return first;
      },
      onAuth: auth.onAuth,
      onAuthSuccess: auth.onAuthSuccess,
      // Renew 100 ms after each connect: every reconnect runs a whole SCRAM exchange again.
      credentialsExpireAt: () => Date.now() + 1200,
      renewBefore: 1100,
    });
    try {
      await waitFor(() => firsts.length >= 3, 5000, 'three connects');
      await waitFor(() => client.connected, 5000, 'connected again');
      assert.equal(new Set(firsts).size, firsts.length, firsts.join(' | '));
    } finally {
      await client.end({ force: true });
    }
  });

  it('is refused with a wrong password', async () => {
    await assert.rejects(
      connectScram(url, { username: 'alice', password: 'wrong', clientId: 'scram-bad', reconnect: false }),
      (error: unknown) => error instanceof ConnectionRefusedError && [0x86, 0x87].includes(error.reasonCode as number),
    );
    await assert.rejects(
      connectScram(url, { username: 'mallory', password: 'x', clientId: 'scram-unknown', reconnect: false }),
      (error: unknown) => error instanceof ConnectionRefusedError,
    );
  });

  it('re-authenticates on a live connection, verifying the server each time', async () => {
    const auth = scramSha256({ username: 'alice', password: 'alice-secret' });
    const client = await connect(url, { clientId: 'scram-reauth', reconnect: false, ...scramOptions(auth) });
    try {
      await client.reauthenticate(auth.restart());
      await client.reauthenticate(auth.restart());
      // Still connected and usable.
      await client.publish('scram/after', 'x', { qos: 1 });
    } finally {
      await client.end();
    }
  });

  it('refuses onAuthSuccess on MQTT 3.1.1', async () => {
    await assert.rejects(connect(url, { protocolVersion: 4, onAuthSuccess: () => {} }), InvalidOptionError);
  });

  describe('a broker that does not know the credential', () => {
    const flip = (result: AuthenticateResult): AuthenticateResult => {
      if (result.result !== 'success' || !result.data) return result;
      // server-final is `v=<base64 signature>`: change the signature's first character, whose six bits are all data
      // (the last one before `=` also holds padding bits that decoders ignore, so changing it may change nothing).
      const text = Buffer.from(result.data).toString();
      const first = text[2] === 'A' ? 'B' : 'A';
      return { ...result, data: Buffer.from(`v=${first}${text.slice(3)}`) };
    };
    const strip = (result: AuthenticateResult): AuthenticateResult =>
      result.result === 'success' ? { result: 'success', ...(result.username ? { username: result.username } : {}) } : result;

    it('makes re-authentication reject and the client leave on a tampered server signature', async () => {
      let successes = 0;
      // The connect's exchange is left intact; the first re-authentication's server-final is changed.
      const bad = await startBroker((result) => (result.result === 'success' && ++successes === 2 ? flip(result) : result));
      const auth = scramSha256({ username: 'alice', password: 'alice-secret' });
      try {
        const client = await connect(bad.url, { clientId: 'scram-reauth-tampered', reconnect: false, ...scramOptions(auth) });
        const closed = new Promise<Error | undefined>((resolve) => client.once('close', resolve));
        await assert.rejects(client.reauthenticate(auth.restart()), (error: unknown) => error instanceof ScramError && /server signature/.test(error.message));
        assert.ok((await closed) instanceof ScramError);
        await leftBroker(bad.broker);
        await client.end();
      } finally {
        await bad.broker.close();
      }
    });

    for (const [name, tamper] of [['a tampered server signature', flip], ['a missing server-final', strip]] as const) {
      it(`makes connect reject on ${name}`, async () => {
        const bad = await startBroker(tamper);
        try {
          await assert.rejects(
            connectScram(bad.url, { username: 'alice', password: 'alice-secret', clientId: 'scram-tampered', reconnect: false }),
            (error: unknown) => error instanceof ScramError && /server/.test(error.message),
          );
          await leftBroker(bad.broker);
        } finally {
          await bad.broker.close();
        }
      });
    }
  });
});
