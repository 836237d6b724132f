import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_TOPIC_BYTES,
  TOPIC_FILTER_INVALID,
  TOPIC_NAME_INVALID,
  TopicError,
  validateTopicFilter,
  validateTopicName,
} from '../../src/topic/index.js';

function assertValidFilters(filters: string[]): void {
  for (const f of filters) assert.equal(validateTopicFilter(f), undefined, `filter ${JSON.stringify(f)} should be valid`);
}

function assertInvalidFilters(filters: string[]): void {
  for (const f of filters) {
    const error = validateTopicFilter(f);
    assert.ok(error instanceof TopicError, `filter ${JSON.stringify(f)} should be invalid`);
    assert.equal(error.reasonCode, TOPIC_FILTER_INVALID);
    assert.ok(error.message.length > 0);
  }
}

function assertValidNames(names: string[]): void {
  for (const n of names) assert.equal(validateTopicName(n), undefined, `name ${JSON.stringify(n)} should be valid`);
}

function assertInvalidNames(names: string[]): void {
  for (const n of names) {
    const error = validateTopicName(n);
    assert.ok(error instanceof TopicError, `name ${JSON.stringify(n)} should be invalid`);
    assert.equal(error.reasonCode, TOPIC_NAME_INVALID);
    assert.ok(error.message.length > 0);
  }
}

describe('topic filter validation', () => {
  test('spec examples of valid filters (section 4.7.1)', () => {
    assertValidFilters([
      'sport/tennis/player1/#',
      'sport/tennis/player1',
      'sport/#',
      '#',
      'sport/+',
      '+',
      '+/tennis/#',
      'sport/+/player1',
      '+/+',
      '/+',
      '/finance',
      '$SYS/#',
      '$SYS/monitor/+',
      'sport/tennis/player1/ranking',
    ]);
  });

  test('v5 MQTT-4.7.1-1, v311 MQTT-4.7.1-2: # is alone in its level and last', () => {
    assertInvalidFilters(['sport/tennis#', 'sport/tennis/#/ranking', '#/a', 'a#', '#a', 'a/#b', '##', 'a/##', '#/']);
    assertValidFilters(['#', 'a/#', '/#', 'a//#', '+/#']);
  });

  test('v5 MQTT-4.7.1-2, v311 MQTT-4.7.1-3: + fills a whole level', () => {
    assertInvalidFilters(['sport+', 'sport/+tennis', '+a', 'a+', 'a/b+/c', '++', '+/++']);
    assertValidFilters(['+', '+/+', '/+', '+/', 'a/+/b', '+//+', '+/+/#']);
  });

  test('empty levels are allowed in filters', () => {
    assertValidFilters(['/', '//', 'a//b', '/a/', '///#']);
  });

  test('MQTT-4.7.3-1: a topic filter is at least one character long', () => {
    assertInvalidFilters(['']);
  });

  test('MQTT-4.7.3-2: a topic filter contains no U+0000', () => {
    assertInvalidFilters(['a\u0000b', '\u0000', 'a/\u0000/#']);
  });

  test('MQTT-4.7.3-3: a topic filter is at most 65535 UTF-8 bytes', () => {
    assertValidFilters(['a'.repeat(MAX_TOPIC_BYTES)]);
    assertInvalidFilters(['a'.repeat(MAX_TOPIC_BYTES + 1)]);
    // Two-, three- and four-byte characters count by their encoded size, not by UTF-16 length.
    assertValidFilters(['é'.repeat(32767) + 'a', '€'.repeat(21845), '😀'.repeat(16383) + 'abc']);
    assertInvalidFilters(['é'.repeat(32768), '€'.repeat(21845) + 'a', '😀'.repeat(16384)]);
  });

  test('a topic filter with an unpaired surrogate is refused', () => {
    assertInvalidFilters(['a\ud800', '\udc00/a', 'a\ud800b']);
    assertValidFilters(['a/😀/#']);
  });

  test('maxLevels limits the number of levels', () => {
    assert.equal(validateTopicFilter('a/b/c', { maxLevels: 3 }), undefined);
    assert.equal(validateTopicFilter('a/b/c/#', { maxLevels: 3 })?.reasonCode, TOPIC_FILTER_INVALID);
    assert.equal(validateTopicFilter('//', { maxLevels: 2 })?.reasonCode, TOPIC_FILTER_INVALID);
  });
});

describe('topic name validation', () => {
  test('spec examples of valid topic names', () => {
    assertValidNames([
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
      'sport',
      'sport/',
      '/finance',
      '/',
      '$SYS/broker/clients',
      'ACCOUNTS',
      'Accounts payable',
      'a b/c d',
      'caf\u00e9/\u20ac/😀',
    ]);
  });

  test('v5 MQTT-4.7.0-1, v311 MQTT-4.7.1-1: a topic name contains no wildcard', () => {
    assertInvalidNames(['#', '+', 'sport/#', 'sport/+/player1', 'sport#', 'a+b', '$SYS/#']);
  });

  test('MQTT-3.3.2-2: the PUBLISH topic name contains no wildcard', () => {
    assertInvalidNames(['sport/tennis/+', 'sport/tennis/#']);
  });

  test('MQTT-4.7.3-1: a topic name is at least one character long', () => {
    assertInvalidNames(['']);
  });

  test('MQTT-4.7.3-2: a topic name contains no U+0000', () => {
    assertInvalidNames(['a\u0000', '\u0000', 'a/\u0000/b']);
  });

  test('MQTT-4.7.3-3: a topic name is at most 65535 UTF-8 bytes', () => {
    assertValidNames(['x'.repeat(MAX_TOPIC_BYTES), '\u00e9'.repeat(32767) + 'x']);
    assertInvalidNames(['x'.repeat(MAX_TOPIC_BYTES + 1), '\u00e9'.repeat(32768)]);
  });

  test('a topic name with an unpaired surrogate is refused', () => {
    assertInvalidNames(['\ud83d', 'a\ude00', '\ude00\ud83d']);
  });

  test('maxLevels limits the number of levels', () => {
    assert.equal(validateTopicName('a/b', { maxLevels: 2 }), undefined);
    assert.equal(validateTopicName('a/b/', { maxLevels: 2 })?.reasonCode, TOPIC_NAME_INVALID);
  });

  test('errors say what is wrong', () => {
    assert.match(String(validateTopicName('a/#')), /wildcard.*0x90/);
    assert.match(String(validateTopicFilter('a#')), /not alone.*0x8f/);
    assert.match(String(validateTopicFilter('#/a')), /#/);
  });
});
