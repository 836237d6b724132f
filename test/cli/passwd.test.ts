import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parsePasswordFile } from '../../src/auth/password-file.js';
import { startMosquitto } from '../helpers/mosquitto.js';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'culex-passwd-'));
const file = (name: string): string => join(dir, name);

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion with `input` on stdin (a pipe, so not a terminal); killed after 20 s. */
function execute(command: string, args: string[], input = ''): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A program that exits without reading its input closes the pipe under us: that is fine.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const culex = (args: string[], input?: string): Promise<Outcome> =>
  execute(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'passwd', ...args], input);
const mosquittoPasswd = (args: string[], input?: string): Promise<Outcome> =>
  execute('mosquitto_passwd', args, input);

after(() => rmSync(dir, { recursive: true, force: true }));

describe('culex passwd behaves like mosquitto_passwd', () => {
  // Each case runs in a fresh copy of the same starting file for both programs; {f} is that file.
  const start = 'alice:$7$101$TPOiD1JLvjwyCyDC$+/wT6nqUostX+f8PcdaRFZ7co75eEkk6+gShU8UYQDoMatLXMtJYlBBL6yOwv1mTBYnr0sN/xyDrl+hahsscsw==\n';
  const cases: Array<{ args: string[]; input?: string; stdout?: boolean }> = [
    { args: [], stdout: false },
    { args: ['{f}'], stdout: false },
    { args: ['-b', '{f}', 'bob'], stdout: false },
    { args: ['-H', 'md5', '{f}', 'bob'] },
    { args: ['-H'] },
    { args: ['-I', '0', '{f}', 'bob'] },
    { args: ['-c', '-D', '{f}', 'bob'] },
    { args: ['-c', '-U', '{f}'] },
    { args: ['-D', '-U', '{f}'] },
    { args: ['-b', '-D', '{f}', 'bob'] },
    { args: ['-c', '{f}'] },
    { args: ['-c', '-b', '{f}', 'bob'] },
    { args: ['-D', '{f}'] },
    { args: ['-U'] },
    { args: ['-U', '{f}', 'extra'] },
    { args: ['-b', '{f}', 'a:b', 'pw'] },
    { args: ['-b', '{f}', 'a\tb', 'pw'] },
    { args: ['-D', '{f}', 'nobody'] },
    { args: ['-D', '{f}', 'alice'] },
    { args: ['-b', '{missing}', 'bob', 'pw'] },
    { args: ['-b', '{f}', 'bob', 'pw'] },
    { args: ['{f}', 'bob'], input: 'secret\nsecret\n' },
    { args: ['{f}', 'bob'], input: 'secret\nother\n' },
    { args: ['{f}', 'bob'], input: '\n' },
    { args: ['{f}', 'bob'], input: '' },
    { args: ['{f}', 'bob'], input: 'secret' },
    { args: ['-c', '{f}', 'bob'], input: 'secret\nsecret\n' },
  ];
  for (const [i, c] of cases.entries()) {
    test(`${c.args.join(' ') || '(no arguments)'}${c.input !== undefined ? ` < ${JSON.stringify(c.input)}` : ''}`, async () => {
      const outcomes: Outcome[] = [];
      const files: string[] = [];
      for (const [name, program] of [['theirs', mosquittoPasswd], ['ours', culex]] as const) {
        const f = file(`case${i}-${name}`);
        writeFileSync(f, start);
        files.push(f);
        const args = c.args.map((a) => a.replace('{f}', f).replace('{missing}', file('missing')));
        const outcome = await program(args, c.input);
        outcomes.push({ ...outcome, stderr: outcome.stderr.replaceAll(f, '{f}') });
      }
      const [theirs, ours] = outcomes as [Outcome, Outcome];
      assert.equal(ours.code, theirs.code, `exit code; ours said ${ours.stderr}`);
      assert.equal(ours.stderr, theirs.stderr);
      if (c.stdout !== false) assert.equal(ours.stdout, theirs.stdout);
      // Same users afterwards (hashes differ by salt).
      const users = (f: string): string[] => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => l.split(':')[0]!);
      assert.deepEqual(users(files[1]!), users(files[0]!));
    });
  }
});

/**
 * Runs a command on a pseudo-terminal (util-linux `script`), typing each answer once the output has shown the
 * prompts so far; returns everything the terminal displayed.
 */
function onTerminal(command: string, answers: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let typed = 0;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const prompts = stdout.split('assword: ').length - 1;
      while (typed < prompts && typed < answers.length) child.stdin.write(`${answers[typed++]}\r`);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('on a terminal the password is asked twice without echo, as mosquitto_passwd does', () => {
  const cases: Array<[string, string[]]> = [
    ['matching', ['hunter2', 'hunter2']],
    ['different', ['hunter2', 'hunter3']],
  ];
  for (const [name, answers] of cases) {
    test(name, async () => {
      const theirs = await onTerminal(`mosquitto_passwd -c ${file(`tty-${name}-theirs`)} u`, answers);
      const ours = await onTerminal(`${process.execPath} --import tsx src/cli/main.ts passwd -c ${file(`tty-${name}-ours`)} u`, answers);
      assert.equal(ours.code, theirs.code);
      assert.doesNotMatch(ours.stdout, /hunter/);
      // mosquitto_passwd shows its prompt before turning echo off, so a fast typist (this test) may see the answer.
      let shown = theirs.stdout;
      for (const answer of answers) shown = shown.replace(`${answer}\r\n`, '');
      assert.equal(ours.stdout, shown);
      if (theirs.code === 0) assert.equal(await parsePasswordFile(readFileSync(file(`tty-${name}-ours`), 'utf8')).verify('u', 'hunter2'), true);
    });
  }
});

describe('password files move both ways', () => {
  let mosquitto: Awaited<ReturnType<typeof startMosquitto>> | undefined;
  const shared = file('shared');

  before(async () => {
    // Entries from both programs and both hash types in one file.
    assert.equal((await mosquittoPasswd(['-c', '-b', shared, 'm7', 'theirs-7'])).code, 0);
    assert.equal((await mosquittoPasswd(['-H', 'sha512', '-b', shared, 'm6', 'theirs-6'])).code, 0);
    assert.equal((await culex(['-b', shared, 'c7', 'ours-7'])).code, 0);
    assert.equal((await culex(['-H', 'sha512', '-b', shared, 'c6', 'ours-6'])).code, 0);
    assert.equal((await culex(['-I', '1000', '-b', shared, 'c7i', 'ours-7i'])).code, 0);
    assert.equal((await mosquittoPasswd(['-b', shared, 'after', 'theirs-again'])).code, 0);
    writeFileSync(file('plain'), 'p1:plain-one\np2 : plain two \n');
    assert.equal((await culex(['-U', file('plain')])).code, 0);
    writeFileSync(shared, readFileSync(shared, 'utf8') + readFileSync(file('plain'), 'utf8'));
    mosquitto = await startMosquitto({ extraConfig: `allow_anonymous false\npassword_file ${shared}` });
  });
  after(async () => {
    await mosquitto?.stop();
  });

  const passwords: Record<string, string> = {
    m7: 'theirs-7',
    m6: 'theirs-6',
    c7: 'ours-7',
    c6: 'ours-6',
    c7i: 'ours-7i',
    after: 'theirs-again',
    p1: 'plain-one',
    p2: 'plain two',
  };

  test('the file has the expected hash types', () => {
    const text = readFileSync(shared, 'utf8');
    assert.match(text, /^c7:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/m);
    assert.match(text, /^c6:\$6\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/m);
    assert.match(text, /^c7i:\$7\$1000\$/m);
    assert.equal(statSync(file('plain')).mode & 0o777, 0o644 & ~process.umask() & 0o777);
  });

  test('culex verifies every entry, whoever wrote it', async () => {
    const parsed = parsePasswordFile(readFileSync(shared, 'utf8'), shared);
    assert.equal(parsed.size, Object.keys(passwords).length);
    for (const [user, password] of Object.entries(passwords)) {
      assert.equal(await parsed.verify(user, password), true, user);
      assert.equal(await parsed.verify(user, password + 'x'), false, user);
      assert.equal(parsed.verifySync(user, password), true, user);
    }
  });

  test('Mosquitto accepts the right password and refuses a wrong one for every entry', async () => {
    const publish = (user: string, password: string): Promise<Outcome> =>
      execute('mosquitto_pub', ['-p', String(mosquitto!.port), '-u', user, '-P', password, '-t', 'x', '-m', 'y']);
    for (const [user, password] of Object.entries(passwords)) {
      assert.equal((await publish(user, password)).code, 0, `${user} with the right password`);
      assert.notEqual((await publish(user, 'wrong')).code, 0, `${user} with a wrong password`);
    }
  });

  test('-U leaves hashed entries alone and keeps comments', async () => {
    const f = file('mixed');
    const hashed = readFileSync(shared, 'utf8').split('\n')[0]!;
    writeFileSync(f, `# users\n${hashed}\n\nnew:pw\n`);
    assert.equal((await culex(['-U', f])).code, 0);
    const lines = readFileSync(f, 'utf8').split('\n');
    assert.equal(lines[0], '# users');
    assert.equal(lines[1], hashed);
    assert.equal(lines[2], '');
    assert.match(lines[3]!, /^new:\$7\$101\$/);
    assert.equal(await parsePasswordFile(lines.join('\n')).verify('new', 'pw'), true);
  });

  test('a corrupt line is reported with its number and the file is left alone', async () => {
    const f = file('corrupt');
    writeFileSync(f, 'a:$6$x$y\nno-colon-here\n');
    const outcome = await culex(['-b', f, 'b', 'pw']);
    assert.equal(outcome.code, 1);
    assert.equal(outcome.stderr, 'Error: Corrupt password file at line 2.\n');
    assert.equal(readFileSync(f, 'utf8'), 'a:$6$x$y\nno-colon-here\n');
  });

  test('--help prints the usage and succeeds', async () => {
    const outcome = await culex(['--help']);
    assert.equal(outcome.code, 0);
    assert.match(outcome.stdout, /Usage: culex passwd/);
  });
});
