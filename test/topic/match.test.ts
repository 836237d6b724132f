import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matches } from '../../src/topic/index.js';

type Case = [filter: string, topic: string, expected: boolean];

function check(cases: Case[]): void {
  for (const [filter, topic, expected] of cases) {
    assert.equal(matches(filter, topic), expected, `${JSON.stringify(filter)} vs ${JSON.stringify(topic)}`);
  }
}

test('spec examples of the multi-level wildcard (section 4.7.1.2)', () => {
  check([
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/tennis/player1/#', 'sport/tennis/player2', false],
    ['sport/#', 'sport', true],
    ['sport/#', 'sport/', true],
    ['sport/#', 'sports', false],
    ['#', 'sport/tennis', true],
    ['#', '/', true],
    ['#', '/finance', true],
  ]);
});

test('spec examples of the single-level wildcard (section 4.7.1.3)', () => {
  check([
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player2', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+', 'sport', true],
    ['+', '/finance', false],
    ['/+', '/finance', true],
    ['+/+', '/finance', true],
    ['+/+', 'a/b/c', false],
    ['+/tennis/#', 'sport/tennis/player1', true],
    ['+/tennis/#', 'sport/tennis', true],
    ['+/tennis/#', 'sport/golf', false],
    ['sport/+/player1', 'sport/tennis/player1', true],
    ['+/+/#', 'a', false],
    ['+/#', 'a', true],
  ]);
});

test('MQTT-4.7.2-1: filters starting with a wildcard do not match $ topics', () => {
  check([
    ['#', '$SYS/broker/uptime', false],
    ['#', '$SYS', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['+', '$SYS', false],
    ['+/#', '$SYS/a', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['$SYS/#', '$SYS', true],
    ['$share/#', '$share/a', true],
    ['#', 'a/$SYS', true],
    ['a/+', 'a/$b', true],
  ]);
});

test('MQTT-4.7.3-4: matching compares characters exactly, with no normalisation', () => {
  check([
    ['ACCOUNTS', 'Accounts', false],
    ['Accounts payable', 'Accounts payable', true],
    ['Accounts payable', 'Accounts  payable', false],
    ['a/ b', 'a/b', false],
    ['caf\u00e9', 'cafe\u0301', false],
    ['caf\u00e9/+', 'caf\u00e9/x', true],
    ['\ufeffa', 'a', false],
    ['a', 'a/', false],
    ['a/', 'a', false],
    ['/a', 'a', false],
    ['a//b', 'a/b', false],
    ['a/+/b', 'a//b', true],
  ]);
});

test('literal filters match only the same string', () => {
  check([
    ['sport/tennis', 'sport/tennis', true],
    ['sport/tennis', 'sport/tennis/', false],
    ['sport/tennis', 'sport/tenni', false],
    ['sport/tennis', 'sport/tennisx', false],
    ['/', '/', true],
    ['//', '/', false],
  ]);
});
