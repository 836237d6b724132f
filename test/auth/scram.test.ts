import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  deriveScramCredential,
  ScramClient,
  ScramError,
  ScramServer,
  saslPrep,
  type ScramCredential,
} from '../../src/auth/scram.js';
import { formatScramCredential, parseScramCredentials, ScramCredentialFileError } from '../../src/auth/scram-credentials.js';

// RFC 7677 section 3: user "user", password "pencil".
const RFC = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

let rfcCredential: ScramCredential;
const server = (credentials: Record<string, ScramCredential>, nonce?: string): ScramServer =>
  new ScramServer({ lookup: (name) => credentials[name], ...(nonce ? { nonce } : {}) });

test('the client produces RFC 7677 messages exactly', async () => {
  const client = new ScramClient({ username: 'user', password: 'pencil', nonce: RFC.clientNonce });
  assert.equal(client.clientFirst(), RFC.clientFirst);
  assert.equal(await client.clientFinal(RFC.serverFirst), RFC.clientFinal);
  assert.equal(client.authenticated, false);
  client.verifyServerFinal(RFC.serverFinal);
  assert.equal(client.authenticated, true);
});

test('the server produces RFC 7677 messages exactly from a stored credential', async () => {
  rfcCredential = await deriveScramCredential('pencil', { salt: RFC.salt, iterations: 4096 });
  const s = server({ user: rfcCredential }, RFC.serverNonce);
  assert.equal(await s.serverFirst(RFC.clientFirst), RFC.serverFirst);
  assert.equal(s.username, undefined);
  assert.equal(s.serverFinal(RFC.clientFinal), RFC.serverFinal);
  assert.equal(s.username, 'user');
});

test('client and server agree with random nonces and salts, and binary messages', async () => {
  const credential = await deriveScramCredential('correct horse', { iterations: 4096 });
  const s = server({ 'we,ird=name': credential });
  const client = new ScramClient({ username: 'we,ird=name', password: 'correct horse' });
  const first = client.clientFirst();
  assert.match(first, /^n,,n=we=2Cird=3Dname,r=/);
  const serverFirst = await s.serverFirst(Buffer.from(first));
  const final = await client.clientFinal(Buffer.from(serverFirst));
  client.verifyServerFinal(Buffer.from(s.serverFinal(Buffer.from(final))));
  assert.equal(s.username, 'we,ird=name');
});

function rejects(code: ScramError['code']): (err: unknown) => boolean {
  return (err) => err instanceof ScramError && err.code === code;
}

test('a wrong password fails at the proof', async () => {
  const s = server({ user: rfcCredential }, RFC.serverNonce);
  const client = new ScramClient({ username: 'user', password: 'pencil2', nonce: RFC.clientNonce });
  const final = await client.clientFinal(await s.serverFirst(client.clientFirst()));
  assert.throws(() => s.serverFinal(final), rejects('invalid-proof'));
  assert.equal(s.username, undefined);
  // No second chance on the same exchange.
  assert.throws(() => s.serverFinal(RFC.clientFinal), rejects('other-error'));
});

test('an unknown user gets a stable made-up salt and fails like a wrong password', async () => {
  const a = server({}, RFC.serverNonce);
  const b = server({}, RFC.serverNonce);
  const firstA = await a.serverFirst(RFC.clientFirst);
  assert.equal(firstA, await b.serverFirst(RFC.clientFirst));
  assert.match(firstA, /,i=4096$/);
  const tuned = new ScramServer({ lookup: () => undefined, decoyIterations: 10_000 });
  assert.match(await tuned.serverFirst(RFC.clientFirst), /,i=10000$/);
  const client = new ScramClient({ username: 'user', password: 'pencil', nonce: RFC.clientNonce });
  client.clientFirst();
  assert.throws(() => a.serverFinal(RFC.clientFinal), rejects('invalid-proof'));
});

test('tampered proofs, nonces and channel bindings are refused', async () => {
  const tampered = (from: string, to: string): string => RFC.clientFinal.replace(from, to);
  const cases: Array<[string, ScramError['code']]> = [
    [tampered('p=dHzb', 'p=dHzc'), 'invalid-proof'],
    [tampered(',p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', ',p=AAAA'), 'invalid-proof'],
    [tampered(',p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', ',p=not*base64'), 'invalid-encoding'],
    [tampered('c=biws', 'c=eSws'), 'channel-bindings-dont-match'],
    [tampered('$k0,p=', '$k1,p='), 'other-error'],
    [RFC.clientFinal.replace(/,p=.*$/, ''), 'invalid-encoding'],
  ];
  for (const [final, code] of cases) {
    const s = server({ user: rfcCredential }, RFC.serverNonce);
    await s.serverFirst(RFC.clientFirst);
    assert.throws(() => s.serverFinal(final), rejects(code), final);
  }
});

test('malformed client-first messages are refused', async () => {
  const cases: Array<[string, ScramError['code']]> = [
    ['p=tls-unique,,n=user,r=abc', 'channel-binding-not-supported'],
    ['n,a=admin,n=user,r=abc', 'other-error'],
    ['n=user,r=abc', 'invalid-encoding'],
    ['n,,m=ext,n=user,r=abc', 'extensions-not-supported'],
    ['n,,n=us=er,r=abc', 'invalid-username-encoding'],
    ['n,,r=abc', 'invalid-encoding'],
    ['n,,n=user,r=a,b', 'invalid-encoding'],
  ];
  for (const [first, code] of cases) {
    await assert.rejects(server({ user: rfcCredential }).serverFirst(first), rejects(code), first);
  }
  await assert.rejects(server({}).serverFirst(Buffer.from([0xff, 0xfe])), rejects('invalid-encoding'));
});

test('the client refuses a forged server signature and bad server-first messages', async () => {
  const start = async (): Promise<ScramClient> => {
    const client = new ScramClient({ username: 'user', password: 'pencil', nonce: RFC.clientNonce });
    client.clientFirst();
    return client;
  };
  const forged = await start();
  await forged.clientFinal(RFC.serverFirst);
  assert.throws(() => forged.verifyServerFinal('v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='), rejects('invalid-proof'));
  assert.equal(forged.authenticated, false);
  const refused = await start();
  await refused.clientFinal(RFC.serverFirst);
  assert.throws(() => refused.verifyServerFinal('e=invalid-proof'), /server refused: invalid-proof/);

  const serverFirsts = [
    'r=someoneElse%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    'r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    'r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1',
    'r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999',
    'r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==',
    'r=rOprNGfwEbeRWgbNEkqOxyz,s=***,i=4096',
    'm=x,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  ];
  for (const first of serverFirsts) {
    await assert.rejects((await start()).clientFinal(first), ScramError, first);
  }
  // Steps out of order.
  const fresh = new ScramClient({ username: 'user', password: 'pencil' });
  await assert.rejects(fresh.clientFinal(RFC.serverFirst), rejects('other-error'));
  assert.throws(() => fresh.verifyServerFinal(RFC.serverFinal), rejects('other-error'));
});

test('SASLprep maps spaces and soft hyphens and normalises', () => {
  assert.equal(saslPrep('I\u00adX'), 'IX');
  assert.equal(saslPrep('a\u00a0b'), 'a b');
  assert.equal(saslPrep('\u2168'), 'IX');
  assert.throws(() => saslPrep('a\u0007b'), ScramError);
});

test('credential files round-trip and report bad lines', async () => {
  const line = formatScramCredential('user', rfcCredential);
  assert.match(line, /^user:SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
  const parsed = parseScramCredentials(`# credentials\n\n${line}\n`);
  const s = new ScramServer({ lookup: (name) => parsed.get(name), nonce: RFC.serverNonce });
  await s.serverFirst(RFC.clientFirst);
  assert.equal(s.serverFinal(RFC.clientFinal), RFC.serverFinal);

  const bad: Array<[string, RegExp]> = [
    ['user:SCRAM-SHA-1:4096:AAAA:AAAA:AAAA', /unsupported mechanism/],
    ['user:SCRAM-SHA-256:0:AAAA:AAAA:AAAA', /iteration count/],
    ['user:SCRAM-SHA-256:4096:AAAA:AAAA', /expected username/],
    ['user:SCRAM-SHA-256:4096:AAAA:AAAA:AAAA', /StoredKey is 3 bytes/],
    [`${line}\n${line}`, /listed twice/],
  ];
  for (const [text, reason] of bad) {
    assert.throws(
      () => parseScramCredentials(text, 'scram.txt'),
      (err: unknown) => err instanceof ScramCredentialFileError && reason.test(err.message) && /^scram\.txt:\d+: /.test(err.message),
      text,
    );
  }
  assert.throws(() => formatScramCredential('a:b', rfcCredential), RangeError);
});
