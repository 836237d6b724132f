/**
 * What every `culex` subcommand has in common: `--version`, `-h` and `--help` (pub and sub keep `-h` for the host,
 * as the Mosquitto tools do), "unknown command" where a command is what was mistyped, and one error style: one line
 * `culex COMMAND: ...`, then where help is, with exit status 2 (pub, sub and passwd: Mosquitto's 1).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { culex, pool } from './run.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

test('culex --version prints the package version', async () => {
  for (const flag of ['--version', '-v', 'version']) {
    const run = await culex([flag]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.toString(), `culex ${version}\n`);
  }
});

test('-h and --help print the usage on stdout and succeed, on every subcommand', async () => {
  const invocations = [
    ['-h'], ['--help'], ['help', 'broker'],
    ['broker', '-h'], ['broker', '--help'],
    ['store', '-h'], ['store', 'repair', '--help'],
    ['hub', '-h'], ['hub', 'start', '-h'], ['hub', 'device', 'add', '--help'],
    ['token', '-h'], ['token', 'azure', '-h'],
    ['ctl', '-h'], ['ctl', 'clients', '-h'], ['ctl', '--help'],
    ['passwd', '-h'], ['passwd', '--help'],
    ['pub', '--help'], ['sub', '--help'],
  ];
  const runs = await pool(4, invocations.map((args) => () => culex(args)));
  runs.forEach((run, i) => {
    const what = `culex ${invocations[i]!.join(' ')}`;
    assert.equal(run.code, 0, `${what}: ${run.stderr}`);
    assert.match(run.stdout.toString(), /usage/i, what);
    assert.equal(run.stderr, '', what);
  });
});

test('mistakes are one line naming them, then where help is, with exit status 2 (pub and sub: 1, as Mosquitto)', async () => {
  const cases: Array<[string[], string, string, number]> = [
    // [arguments, first line, help line, status]
    [['frob'], "culex: unknown command 'frob'", "run 'culex --help' for the commands", 2],
    [['broker', '--frob'], "culex broker: unknown option '--frob'", "run 'culex broker --help' for usage", 2],
    [['broker', '--port'], 'culex broker: --port needs a value', "run 'culex broker --help' for usage", 2],
    [['broker', '--memory=yes'], 'culex broker: --memory takes no value', "run 'culex broker --help' for usage", 2],
    [['store', 'frob', 'dir'], "culex store: unknown command 'frob'", "run 'culex store --help' for usage", 2],
    [['store', '--frob'], "culex store: unknown option '--frob'", "run 'culex store --help' for usage", 2],
    // Not a complaint about a missing hub.json: the command is what is wrong.
    [['hub', 'frob'], "culex hub: unknown command 'frob'", "run 'culex hub --help' for usage", 2],
    [['hub', 'start', '--frob'], "culex hub: unknown option '--frob'", "run 'culex hub --help' for usage", 2],
    [['token', 'frob'], "culex token: unknown cloud 'frob' (azure, tencent, aliyun-mq, aliyun-iot)", "run 'culex token --help' for usage", 2],
    [['ctl', 'frob'], "culex ctl: unknown command 'frob'", "run 'culex ctl --help' for usage", 2],
    [['ctl', 'clients', '--frob'], "culex ctl: unknown option '--frob'", "run 'culex ctl --help' for usage", 2],
    [['pub', '--frob'], "culex pub: unknown option '--frob'", "run 'culex pub --help' for usage", 1],
    [['sub', '-h'], 'culex sub: -h needs a host', "run 'culex sub --help' for usage", 1],
  ];
  const runs = await pool(4, cases.map(([args]) => () => culex(args)));
  runs.forEach((run, i) => {
    const [args, line, hint, status] = cases[i]!;
    assert.equal(run.stderr, `${line}\n${hint}\n`, `culex ${args.join(' ')}`);
    assert.equal(run.code, status, `culex ${args.join(' ')}`);
    assert.equal(run.stdout.length, 0);
  });
});
