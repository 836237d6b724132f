import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  formatHash,
  hashPassword,
  parseHash,
  parsePasswordFile,
  PasswordFile,
  PasswordFileError,
} from '../../src/auth/password-file.js';

// Written by Mosquitto 2.0.11's mosquitto_passwd: alice/secret as $7$, bob/pw as $6$ (-H sha512).
const ALICE = 'alice:$7$101$TPOiD1JLvjwyCyDC$+/wT6nqUostX+f8PcdaRFZ7co75eEkk6+gShU8UYQDoMatLXMtJYlBBL6yOwv1mTBYnr0sN/xyDrl+hahsscsw==';
const BOB = 'bob:$6$UOi8H7th0eEFLUmB$ZkXb5kkcrVH5l16okSSg+HLkz5eMo1QfcNsyHHWT7Rw9i5x5+Z6kmHwsXzVFxejEMOyojLdviB6dP1SkFCtzxQ==';

test('verifies entries written by mosquitto_passwd, both hash types', async () => {
  const file = parsePasswordFile(`# users\n\n${ALICE}\r\n  ${BOB}  \n`);
  assert.equal(file.size, 2);
  assert.equal(await file.verify('alice', 'secret'), true);
  assert.equal(await file.verify('alice', Buffer.from('secret')), true);
  assert.equal(await file.verify('alice', 'Secret'), false);
  assert.equal(await file.verify('bob', 'pw'), true);
  assert.equal(file.verifySync('bob', 'pw'), true);
  assert.equal(file.verifySync('bob', ''), false);
  assert.equal(await file.verify('carol', 'secret'), false);
  assert.equal(file.verifySync('carol', 'pw'), false);
  assert.deepEqual([...file.usernames()], ['alice', 'bob']);
});

test('hashing with the same salt reproduces mosquitto_passwd output exactly', () => {
  const alice = parseHash(ALICE.slice('alice:'.length));
  assert.equal(alice.algorithm, 'sha512-pbkdf2');
  assert.equal(alice.iterations, 101);
  assert.equal(alice.salt.length, 12);
  assert.equal(formatHash(hashPassword('secret', { salt: alice.salt })), ALICE.slice('alice:'.length));
  const bob = parseHash(BOB.slice('bob:'.length));
  assert.equal(formatHash(hashPassword('pw', { algorithm: 'sha512', salt: bob.salt })), BOB.slice('bob:'.length));
});

test('new hashes use Mosquitto 2.0 parameters and fresh salts', () => {
  const a = hashPassword('x');
  const b = hashPassword('x');
  assert.equal(a.algorithm, 'sha512-pbkdf2');
  assert.equal(a.iterations, 101);
  assert.equal(a.salt.length, 12);
  assert.equal(a.hash.length, 64);
  assert.notDeepEqual(a.salt, b.salt);
  assert.match(formatHash(hashPassword('x', { iterations: 5000 })), /^\$7\$5000\$/);
  assert.throws(() => hashPassword('x', { iterations: 0 }), RangeError);
});

test('serialize round-trips', async () => {
  const file = parsePasswordFile(`${ALICE}\n${BOB}\n`);
  assert.equal(file.serialize(), `${ALICE}\n${BOB}\n`);
  const made = new PasswordFile([{ username: 'u', hash: hashPassword('p'), line: 0 }]);
  assert.equal(await parsePasswordFile(made.serialize()).verify('u', 'p'), true);
});

test('malformed entries are errors naming the file and line', () => {
  const cases: Array<[string, number, RegExp]> = [
    [`${ALICE}\nnocolon\n`, 2, /expected 'username:hash'/],
    [`${ALICE}\nu:\n`, 2, /expected 'username:hash'/],
    [':$6$abc$def\n', 1, /expected 'username:hash'/],
    ['u:plaintext\n', 1, /not hashed/],
    ['u:$5$abcd$efgh\n', 1, /unknown hash type/],
    ['u:$7$abc$TPOiD1JLvjwyCyDC$AAAA\n', 1, /iteration count 'abc'/],
    ['u:$7$0$TPOiD1JLvjwyCyDC$AAAA\n', 1, /iteration count '0'/],
    ['u:$7$101$TPOiD1JLvjwyCyDC\n', 1, /expected \$7\$iterations\$salt\$hash/],
    ['u:$6$TPOi*1JLvjwyCyDC$AAAA\n', 1, /salt is not valid base64/],
    ['u:$6$TPOiD1JLvjwyCyDC$AAAA\n', 1, /hash is 3 bytes, expected 64/],
    [`${ALICE}\n\n${ALICE}\n`, 3, /already listed at line 1/],
    ['a\u0001b:$6$x$y\n', 1, /control characters/],
  ];
  for (const [text, line, reason] of cases) {
    assert.throws(
      () => parsePasswordFile(text, '/etc/culex/passwd'),
      (err: unknown) => {
        assert.ok(err instanceof PasswordFileError, String(err));
        assert.equal(err.file, '/etc/culex/passwd');
        assert.equal(err.line, line, text);
        assert.match(err.message, reason);
        assert.ok(err.message.startsWith(`/etc/culex/passwd:${line}: `));
        return true;
      },
    );
  }
});

test('load reads a file from disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-pwfile-'));
  try {
    const path = join(dir, 'passwd');
    writeFileSync(path, `${ALICE}\n`);
    assert.equal(await (await PasswordFile.load(path)).verify('alice', 'secret'), true);
    writeFileSync(path, 'broken\n');
    await assert.rejects(PasswordFile.load(path), new RegExp(`^PasswordFileError: ${path}:1: `.replace(/[/.]/g, '\\$&')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
