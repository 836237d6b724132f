import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Acl } from '../../src/auth/acl.js';
import { AclFileError, parseAclFile, type AclRules } from '../../src/auth/acl-file.js';
import { matches } from '../../src/topic/match.js';

const FILE = `
# anonymous clients
topic read public/#
topic read $SYS/broker/version

user alice
topic readwrite alice/#
topic deny alice/secret
topic write shared/in
topic read read

user bob
topic read #
topic deny alice/#

user alice
topic read extra/+

  # patterns apply to everyone
pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern deny devices/%c/locked
`;

test('parses sections, access words and patterns', () => {
  const rules = parseAclFile(FILE, 'acl');
  assert.deepEqual(
    rules.anonymous.map((r) => [r.access, r.topic, r.line]),
    [
      ['read', 'public/#', 3],
      ['read', '$SYS/broker/version', 4],
    ],
  );
  assert.deepEqual(
    rules.users.get('alice')!.map((r) => [r.access, r.topic]),
    [
      ['readwrite', 'alice/#'],
      ['deny', 'alice/secret'],
      ['write', 'shared/in'],
      ['read', 'read'],
      ['read', 'extra/+'],
    ],
  );
  assert.equal(rules.users.get('bob')!.length, 2);
  assert.deepEqual(
    rules.patterns.map((r) => [r.access, r.topic]),
    [
      ['readwrite', 'devices/%c/#'],
      ['read', 'users/%u/inbox'],
      ['deny', 'devices/%c/locked'],
    ],
  );
  // As in Mosquitto, a lone word after `topic` is the topic, with readwrite access; filters may contain spaces.
  const odd = parseAclFile('topic read\ntopic write a b/c\n');
  assert.deepEqual(odd.anonymous.map((r) => [r.access, r.topic]), [['readwrite', 'read'], ['write', 'a b/c']]);
});

test('malformed lines are errors naming the file and line', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['user\n', 1, /without a user name/],
    ['\ntopic\n', 2, /without a topic filter/],
    ['topic sometimes a/b\n', 1, /unknown access 'sometimes'/],
    ['topic read a/#/b\n', 1, /invalid topic filter 'a\/#\/b'/],
    ['pattern read a+/%c\n', 1, /invalid topic filter/],
    ['topics read a\n', 1, /unknown directive 'topics'/],
  ];
  for (const [text, line, reason] of cases) {
    assert.throws(
      () => parseAclFile(text, '/etc/acl'),
      (err: unknown) => err instanceof AclFileError && err.line === line && reason.test(err.message) && err.message.startsWith(`/etc/acl:${line}: `),
      text,
    );
  }
});

test('read, write and subscribe decisions follow Mosquitto 2.0', () => {
  const acl = new Acl(parseAclFile(FILE));
  const table: Array<[string, string | undefined, 'r' | 'w' | 's', string, boolean]> = [
    // anonymous section
    ['anon', undefined, 'r', 'public/news', true],
    ['anon', undefined, 'w', 'public/news', false],
    ['anon', undefined, 'r', 'alice/x', false],
    ['anon', undefined, 'r', '$SYS/broker/version', true],
    ['anon', undefined, 'r', '$SYS/broker/uptime', false],
    // user section: deny wins wherever it is in the file, sections for one user add up
    ['c1', 'alice', 'r', 'alice/x', true],
    ['c1', 'alice', 'w', 'alice/x/y', true],
    ['c1', 'alice', 'r', 'alice', true],
    ['c1', 'alice', 'r', 'alice/secret', false],
    ['c1', 'alice', 'w', 'alice/secret', false],
    ['c1', 'alice', 'w', 'shared/in', true],
    ['c1', 'alice', 'r', 'shared/in', false],
    ['c1', 'alice', 'r', 'extra/1', true],
    ['c1', 'alice', 'r', 'extra/1/2', false],
    ['c1', 'alice', 'r', 'read', true],
    ['c1', 'alice', 'r', 'public/news', false],
    // `#` does not reach `$SYS`
    ['c2', 'bob', 'r', 'anything/at/all', true],
    ['c2', 'bob', 'r', '$SYS/broker/version', false],
    ['c2', 'bob', 'r', 'alice/x', false],
    ['c2', 'bob', 'w', 'anything', false],
    // a user without a section gets only the patterns
    ['dev1', 'carol', 'r', 'devices/dev1/temp', true],
    ['dev1', 'carol', 'w', 'devices/dev1/temp', true],
    ['dev1', 'carol', 'w', 'devices/dev2/temp', false],
    ['dev1', 'carol', 'w', 'devices/dev1/locked', false],
    ['dev1', 'carol', 'r', 'users/carol/inbox', true],
    ['dev1', 'carol', 'r', 'users/dave/inbox', false],
    // own rules are decided before patterns: alice's own rules do not cover devices/, the pattern does
    ['dev3', 'alice', 'w', 'devices/dev3/x', true],
    // %u patterns do not apply without a user name; %c ones do
    ['dev4', undefined, 'r', 'devices/dev4/x', true],
    ['dev4', undefined, 'r', 'users//inbox', false],
    // a client id or user name with wildcards gets nothing from patterns
    ['dev/+', 'carol', 'r', 'devices/dev/x/y', false],
    ['dev5', 'ca#rol', 'r', 'devices/dev5/x', false],
    ['c1', 'alice+', 'r', 'alice/x', false],
    // $SYS and $share are never writable
    ['c2', 'bob', 'w', '$SYS/broker/x', false],
    // subscriptions: refused only when nothing under the filter is readable
    ['c1', 'alice', 's', 'alice/#', true],
    ['c1', 'alice', 's', '#', true],
    ['c1', 'alice', 's', '+/secret', true],
    ['c1', 'alice', 's', 'alice/secret', false],
    ['c1', 'alice', 's', 'shared/in', false],
    ['c1', 'alice', 's', 'extra/+/+', false],
    ['c1', 'alice', 's', '$share/g/alice/#', true],
    ['c1', 'alice', 's', '$share/g/nothing/#', false],
    ['c2', 'bob', 's', '#', true],
    ['c2', 'bob', 's', 'alice/#', false],
    ['c2', 'bob', 's', 'alice/+/x', false],
    ['c2', 'bob', 's', '+/+/x', true],
    ['c2', 'bob', 's', '$SYS/#', false],
    ['anon', undefined, 's', '$SYS/#', true],
    ['anon', undefined, 's', '+/broker/version', true],
    ['anon', undefined, 's', 'private/+', false],
    ['anon', undefined, 's', 'public', true],
    ['dev1', 'carol', 's', 'devices/+/locked', false],
    ['dev1', 'carol', 's', 'devices/+/temp', true],
  ];
  for (const [clientId, username, op, topic, expected] of table) {
    const actual =
      op === 'r'
        ? acl.canRead(clientId, username, topic)
        : op === 'w'
          ? acl.canWrite(clientId, username, topic)
          : acl.canSubscribe(clientId, username, topic);
    assert.equal(actual, expected, `${clientId}/${username ?? '-'} ${op} ${topic}`);
  }
});

test('an empty ACL refuses everything', () => {
  const acl = new Acl(parseAclFile('# nothing\n'));
  assert.equal(acl.canRead('c', 'u', 'a'), false);
  assert.equal(acl.canWrite('c', undefined, 'a'), false);
  assert.equal(acl.canSubscribe('c', 'u', '#'), false);
});

test('canSubscribe is true exactly when some topic under the filter is readable', () => {
  // Rules and filters over a small alphabet; topics over the same alphabet plus a value no rule names.
  const values = ['a', 'b', '$S'];
  const universe: string[] = [];
  const grow = (prefix: string[], depth: number): void => {
    if (prefix.length > 0) universe.push(prefix.join('/'));
    if (depth === 0) return;
    for (const v of [...values, 'zz']) grow([...prefix, v], depth - 1);
  };
  grow([], 5);
  const level = fc.constantFrom(...values, '+');
  const filter = fc
    .tuple(fc.array(level, { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'))
    .filter((f) => !f.startsWith('+') || !f.includes('$'));
  const rule = fc.record({ access: fc.constantFrom('read', 'write', 'readwrite', 'deny' as const), topic: filter });
  fc.assert(
    fc.property(fc.array(rule, { maxLength: 5 }), fc.array(rule, { maxLength: 3 }), filter, (own, patterns, sub) => {
      const rules: AclRules = {
        anonymous: [],
        users: new Map([['u', own.map((r, i) => ({ ...r, line: i + 1 }))]]),
        patterns: patterns.map((r, i) => ({ ...r, line: i + 1 })),
      };
      const client = new Acl(rules).forClient('c', 'u');
      const expected = universe.some((t) => matches(sub, t) && client.canRead(t));
      assert.equal(client.canSubscribe(sub), expected, `${sub} with ${JSON.stringify({ own, patterns })}`);
    }),
    { numRuns: 300 },
  );
});
