/** MQTT topic ↔ NATS subject mapping: examples, properties against MQTT matching, and a real nats-server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { connect } from '@nats-io/transport-node';
import { decodeToken, encodeLevel, TopicSubjects } from '../../src/cluster/subject.js';
import { matches, validateTopicFilter, validateTopicName } from '../../src/topic/index.js';
import { startNats } from '../helpers/nats.js';

const map = new TopicSubjects({ prefix: 'cx.c1.m' });

/** NATS subject matching: `*` is one token, `>` (last) one or more. */
function natsMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** A subject nats-server and the NATS docs accept for publishing: printable ASCII tokens, no wildcard characters. */
function assertPublishable(subject: string): void {
  assert.match(subject, /^[\x21-\x7e]+$/, `${subject} is not printable ASCII`);
  for (const token of subject.split('.')) {
    assert.ok(token.length > 0, `${subject} has an empty token`);
    assert.ok(!token.includes('*') && !token.includes('>'), `${subject} has a wildcard character in '${token}'`);
  }
}

/** A subscription subject: wildcards only as whole tokens, `>` only last. */
function assertSubscribable(subject: string): void {
  const tokens = subject.split('.');
  tokens.forEach((token, i) => {
    assert.ok(token.length > 0 && /^[\x21-\x7e]+$/.test(token), `${subject}: bad token '${token}'`);
    if (token === '*' || (token === '>' && i === tokens.length - 1)) return;
    assert.ok(!token.includes('*') && !token.includes('>'), `${subject}: wildcard character inside '${token}'`);
  });
}

test('plain ASCII levels map to themselves; everything else has one escape form', () => {
  const cases: [topic: string, subject: string][] = [
    ['sensors/t1/temp', 'cx.c1.m.sensors.t1.temp'],
    ['a-b_c:d@e,f=g~h!i', 'cx.c1.m.a-b_c:d@e,f=g~h!i'],
    ['x', 'cx.c1.m.x'],
    ['/', 'cx.c1.m.%.%'],
    ['/a', 'cx.c1.m.%.a'],
    ['a/', 'cx.c1.m.a.%'],
    ['a//b', 'cx.c1.m.a.%.b'],
    ['a b/c', 'cx.c1.m.a%20b.c'],
    ['v1.2/x', 'cx.c1.m.v1%2E2.x'],
    ['*/>', 'cx.c1.m.%2A.%3E'],
    ['a*b/c>d', 'cx.c1.m.a%2Ab.c%3Ed'],
    ['100%', 'cx.c1.m.100%25'],
    ['%', 'cx.c1.m.%25'],
    ['température', 'cx.c1.m.temp%C3%A9rature'],
    ['𝄞', 'cx.c1.m.%F0%9D%84%9E'],
    ['tab\there', 'cx.c1.m.tab%09here'],
    ['a/$b', 'cx.c1.m.a.$b'],
    ['$SYS/broker/load', 'cx.c1.m$.SYS.broker.load'],
    ['$', 'cx.c1.m$.%'],
    ['$/x', 'cx.c1.m$.%.x'],
    ['$$', 'cx.c1.m$.$'],
    ['$a b', 'cx.c1.m$.a%20b'],
  ];
  for (const [topic, subject] of cases) {
    assert.equal(map.subject(topic), subject, JSON.stringify(topic));
    assert.equal(map.topic(subject), topic, subject);
  }
});

test('filters: + is *, # is >, a trailing /# adds its parent, wildcard-first filters stay out of $ topics', () => {
  const cases: [filter: string, subjects: string[]][] = [
    ['#', ['cx.c1.m.>']],
    ['+', ['cx.c1.m.*']],
    ['a/#', ['cx.c1.m.a', 'cx.c1.m.a.>']],
    ['+/#', ['cx.c1.m.*', 'cx.c1.m.*.>']],
    ['a/+/c', ['cx.c1.m.a.*.c']],
    ['/#', ['cx.c1.m.%', 'cx.c1.m.%.>']],
    ['a b/+', ['cx.c1.m.a%20b.*']],
    ['$SYS/#', ['cx.c1.m$.SYS', 'cx.c1.m$.SYS.>']],
    ['$SYS/+/load', ['cx.c1.m$.SYS.*.load']],
    ['$', ['cx.c1.m$.%']],
  ];
  for (const [filter, subjects] of cases) assert.deepEqual(map.filterSubjects(filter), subjects, filter);
});

test('subjects this mapping would not produce are refused by topic()', () => {
  for (const subject of [
    'cx.c1.m', 'cx.c1.m.', 'cx.c1.m..a', 'cx.c1.x.a', 'cx.c1.m$', 'other.a',
    'cx.c1.m.a%2eb', // lower-case hex
    'cx.c1.m.%41', // escape of a plain character
    'cx.c1.m.%', // the empty topic, which is not a topic name
    'cx.c1.m.a%2', 'cx.c1.m.a%G0', 'cx.c1.m.%C3', 'cx.c1.m.%C3%28', // truncated, not hex, bad UTF-8
    'cx.c1.m.%ED%A0%80', // an encoded surrogate
    'cx.c1.m.%C0%AF', 'cx.c1.m.%E0%81%81', 'cx.c1.m.%F0%82%82%AC', 'cx.c1.m.%F4%90%80%80', // overlong, above U+10FFFF
    'cx.c1.m.%C3a%A9', 'cx.c1.m.%A9', // a plain character inside a sequence, a lone continuation byte
    'cx.c1.m.a/b', 'cx.c1.m.a#b', 'cx.c1.m.+', 'cx.c1.m.%2F', 'cx.c1.m.%2B', 'cx.c1.m.%23', 'cx.c1.m.%00', // not inside a level
    'cx.c1.m.$SYS', // a $ topic under the normal prefix
    'cx.c1.m.é', // raw non-ASCII
    'cx.c1.m.*', 'cx.c1.m.>',
  ]) {
    const topic = map.topic(subject);
    assert.equal(topic, undefined, `${subject} decoded to ${JSON.stringify(topic)}`);
  }
});

test('too long for the servers control line: undefined rather than a subject that would cost the connection', () => {
  const small = new TopicSubjects({ prefix: 'p', maxSubjectBytes: 20 });
  assert.equal(small.subject('a'.repeat(18)), 'p.' + 'a'.repeat(18));
  assert.equal(small.subject('a'.repeat(19)), undefined);
  assert.equal(small.subject('é'.repeat(3)), 'p.%C3%A9%C3%A9%C3%A9');
  assert.equal(small.subject('é'.repeat(4)), undefined);
  assert.deepEqual(small.filterSubjects('a'.repeat(14) + '/#'), ['p.' + 'a'.repeat(14), 'p.' + 'a'.repeat(14) + '.>']);
  assert.equal(small.filterSubjects('a'.repeat(17) + '/#'), undefined);
  assert.equal(map.maxSubjectBytes, 3840);
  assert.equal(map.subject('a'.repeat(3840 - 'cx.c1.m.'.length))?.length, 3840);
  assert.equal(map.subject('a'.repeat(3840)), undefined);
});

test('prefixes: checked, and the $ prefix may not lie under the other', () => {
  assert.equal(new TopicSubjects({ prefix: 'a.b' }).dollarPrefix, 'a.b$');
  assert.equal(new TopicSubjects({ prefix: 'a', dollarPrefix: 'b' }).subject('$x'), 'b.x');
  for (const options of [
    { prefix: '' }, { prefix: 'a..b' }, { prefix: 'a.*' }, { prefix: 'a.>' }, { prefix: 'a b' },
    { prefix: 'a', dollarPrefix: 'a.d' }, { prefix: 'a.d', dollarPrefix: 'a' }, { prefix: 'a', dollarPrefix: 'a' },
  ]) {
    assert.throws(() => new TopicSubjects(options), TypeError, JSON.stringify(options));
  }
});

test('a tiny cache and no cache give the same subjects as the default', () => {
  const tiny = new TopicSubjects({ prefix: 'cx.c1.m', cacheSize: 2 });
  const none = new TopicSubjects({ prefix: 'cx.c1.m', cacheSize: 0 });
  const topics = ['a b', '$x', 'c d', 'a b', 'é/', '$x', 'plain/one', 'a b'];
  for (const topic of topics) {
    assert.equal(tiny.subject(topic), map.subject(topic));
    assert.equal(none.subject(topic), map.subject(topic));
  }
});

// Levels: plain words, the troublesome characters, `$`, escapes that look like ours, and any Unicode.
const specialLevel = fc.constantFrom('', '*', '>', '.', ' ', '%', '%20', '%2E', '$', '$SYS', 'a.b', 'a b', '..', '\t', '\x7f', 'é', '𝄞', '\u00a0');
const plainLevel = fc.string({ unit: fc.constantFrom('a', 'b', 'Z', '0', '-', '_', ':', '$', '~'), minLength: 1, maxLength: 4 });
const anyLevel = fc.string({ unit: 'binary', maxLength: 6 }).map((s) => s.replace(/[/+#\0]/g, ''));
const level = fc.oneof(plainLevel, specialLevel, anyLevel);
const topicName = fc.array(level, { minLength: 1, maxLength: 6 })
  .map((levels) => levels.join('/'))
  .filter((t) => validateTopicName(t) === undefined);
/** A filter derived from a topic (so that many match): some levels become +, the tail may become #. */
const filterFor = (topic: string): fc.Arbitrary<string> =>
  fc.tuple(fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 8 }), fc.boolean())
    .map(([plus, cut, hash]) => {
      let levels = topic.split('/').map((l, i) => (plus[i] ? '+' : l));
      if (hash) levels = [...levels.slice(0, Math.min(cut, levels.length)), '#'];
      return levels.join('/');
    });
const filterAndTopic = fc.oneof(
  topicName.chain((topic) => fc.tuple(filterFor(topic), fc.constant(topic))),
  fc.tuple(topicName.chain(filterFor), topicName),
).filter(([f]) => validateTopicFilter(f) === undefined);

test('property: every valid topic round-trips, and its subject is publishable ASCII', () => {
  fc.assert(fc.property(topicName, (topic) => {
    const subject = map.subject(topic);
    assert.ok(subject !== undefined);
    assertPublishable(subject);
    assert.equal(map.topic(subject), topic);
  }), { numRuns: 3000 });
});

test('property: matches(filter, topic) holds exactly when a subject of the filter matches the topic subject', () => {
  let matched = 0;
  fc.assert(fc.property(filterAndTopic, ([filter, topic]) => {
    const subjects = map.filterSubjects(filter);
    assert.ok(subjects !== undefined && subjects.length >= 1 && subjects.length <= 2);
    subjects.forEach(assertSubscribable);
    const subject = map.subject(topic)!;
    const hits = subjects.filter((s) => natsMatches(s, subject)).length;
    const expected = matches(filter, topic);
    assert.equal(hits > 0, expected, `${JSON.stringify(filter)} ${JSON.stringify(topic)} -> ${subjects.join(' ')} vs ${subject}`);
    assert.ok(hits <= 1, 'the subjects of one filter overlap');
    if (expected) matched++;
  }), { numRuns: 5000 });
  assert.ok(matched > 1000, `only ${matched} matching pairs: the generator is too weak`);
});

test('property: a token decodes only when it is exactly what its level encodes to', () => {
  const token = fc.string({ unit: fc.constantFrom('%', 'A', 'a', '2', 'E', 'C', '3', '9', '0', 'F', '.', '$', '/', '#', '+', '*', ' ', 'é'), maxLength: 8 });
  fc.assert(fc.property(token, (t) => {
    const level = decodeToken(t);
    if (level !== undefined) assert.equal(encodeLevel(level), t);
  }), { numRuns: 5000 });
  fc.assert(fc.property(level, (l) => {
    assert.equal(decodeToken(encodeLevel(l)), l);
  }), { numRuns: 2000 });
});

test('a real nats-server delivers exactly the topics each filter matches', { timeout: 30_000 }, async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connect({ servers: nats.urls });
  t.after(() => nc.close());
  const topics = ['a', 'a/b', 'a/', '/a', '/', '//', 'a b', 'a.b', '*', '>', 'a/*', 'a/>', '%', 'é', '$SYS', '$SYS/x',
    '$', '$/a', 'b/a', 'a/b/c', '$SYS/a/b'];
  const filters = ['#', '+', 'a/#', 'a/+', '+/+', '/#', '+/a', '$SYS/#', '$SYS/+', '$/#', '*', 'a/*', '>', 'a.b', 'a b', '+/#',
    '$SYS', 'a/b/#'];
  const received = new Map<string, Set<string>>();
  for (const filter of filters) {
    const got = new Set<string>();
    received.set(filter, got);
    for (const subject of map.filterSubjects(filter)!) {
      nc.subscribe(subject, { callback: (_e, msg) => void got.add(msg.string()) });
    }
  }
  await nc.flush();
  for (const topic of topics) nc.publish(map.subject(topic)!, topic);
  await nc.flush();
  // Messages on one connection arrive in order: after this one, every earlier one has been delivered.
  const done = nc.subscribe('done', { max: 1 });
  nc.publish('done');
  for await (const _ of done) break;
  for (const filter of filters) {
    const expected = topics.filter((topic) => matches(filter, topic)).sort();
    assert.deepEqual([...received.get(filter)!].sort(), expected, filter);
  }
});
