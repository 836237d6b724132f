import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOPIC_FILTER_INVALID, TopicError, parseSharedFilter } from '../../src/topic/index.js';

test('non-shared filters give undefined', () => {
  for (const f of ['sport/#', '#', '$SYS/#', '$share', '$sharex/g/a', '$SHARE/g/a', 'a/$share/g/b']) {
    assert.equal(parseSharedFilter(f), undefined, f);
  }
});

test('MQTT-4.8.2-1: $share/ is followed by a share name of at least one character', () => {
  assert.deepEqual(parseSharedFilter('$share/g/sport/#'), { group: 'g', filter: 'sport/#' });
  assert.deepEqual(parseSharedFilter('$share/consumer1/sport/tennis/+'), { group: 'consumer1', filter: 'sport/tennis/+' });
  for (const f of ['$share/', '$share//a', '$share//#']) {
    const error = parseSharedFilter(f);
    assert.ok(error instanceof TopicError, f);
    assert.equal(error.reasonCode, TOPIC_FILTER_INVALID);
  }
});

test('MQTT-4.8.2-2: the share name has no / + or # and is followed by / and a topic filter', () => {
  assert.deepEqual(parseSharedFilter('$share/g/#'), { group: 'g', filter: '#' });
  assert.deepEqual(parseSharedFilter('$share/g/+'), { group: 'g', filter: '+' });
  assert.deepEqual(parseSharedFilter('$share/g//'), { group: 'g', filter: '/' });
  assert.deepEqual(parseSharedFilter('$share/g/$SYS/#'), { group: 'g', filter: '$SYS/#' });
  assert.deepEqual(parseSharedFilter('$share/a.b-c_d/x'), { group: 'a.b-c_d', filter: 'x' });
  for (const f of [
    '$share/g',
    '$share/g/',
    '$share/+/a',
    '$share/#/a',
    '$share/g+/a',
    '$share/g#/a',
    '$share/g/a#',
    '$share/g/a/#/b',
    '$share/g/+a',
    '$share/g/a\u0000',
  ]) {
    const error = parseSharedFilter(f);
    assert.ok(error instanceof TopicError, f);
    assert.equal(error.reasonCode, TOPIC_FILTER_INVALID);
    assert.ok(error.message.length > 0);
  }
});

test('limits apply to the inner filter', () => {
  assert.deepEqual(parseSharedFilter('$share/g/a/b', { maxLevels: 2 }), { group: 'g', filter: 'a/b' });
  assert.ok(parseSharedFilter('$share/g/a/b/c', { maxLevels: 2 }) instanceof TopicError);
});
