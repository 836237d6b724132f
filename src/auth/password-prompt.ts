/**
 * Asks for a password the way `mosquitto_passwd` does: a prompt on stdout, the answer read without echo on a
 * terminal, or one line from stdin when it is not a terminal (so `printf 'pw\npw\n' | culex passwd f u` works).
 */

/** Hands out stdin one line at a time (a pipe may deliver both answers in one chunk). */
class LineReader {
  private buffered = '';
  private ended = false;
  private waiting: (() => void) | undefined;

  private readonly onData = (chunk: string): void => {
    this.buffered += chunk;
    this.wake();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.wake();
  };

  constructor(private readonly input: NodeJS.ReadStream) {
    input.setEncoding('utf8');
    input.on('data', this.onData);
    input.on('end', this.onEnd);
    input.pause();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  /** The next line without its line ending, the unterminated rest at end of input, or undefined after it. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const newline = this.buffered.indexOf('\n');
      if (newline >= 0) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        return line.replace(/\r+$/, '');
      }
      if (this.ended) {
        if (this.buffered === '') return undefined;
        const rest = this.buffered.replace(/\r+$/, '');
        this.buffered = '';
        return rest;
      }
      this.input.resume();
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.input.pause();
    }
  }

  close(): void {
    this.input.pause();
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
  }
}

/**
 * Shows `prompt` and reads one line from a terminal in raw mode, echoing nothing; Ctrl-C aborts, Ctrl-D on an
 * empty line ends. Echo goes off before the prompt appears, so a quick typist's answer is never shown.
 */
function readHidden(input: NodeJS.ReadStream, output: NodeJS.WriteStream, prompt: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let answer = '';
    input.setRawMode(true);
    input.setEncoding('utf8');
    output.write(prompt);
    const finish = (value: string | undefined, error?: Error): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(answer);
        if (ch === '\u0003') return finish(undefined, new PromptInterrupted());
        if (ch === '\u0004') {
          if (answer === '') return finish(undefined);
          continue;
        }
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else if (ch === '\u0015') answer = '';
        else answer += ch;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

export class PromptInterrupted extends Error {
  override readonly name = 'PromptInterrupted';
  constructor() {
    super('interrupted');
  }
}

export type PromptOutcome = { password: string } | { error: 'empty' | 'mismatch' };

/**
 * Prompts for a password and its confirmation. Outcomes follow mosquitto_passwd: an empty or missing answer is
 * `empty`, two different answers `mismatch`.
 */
export async function promptNewPassword(
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WriteStream = process.stdout,
): Promise<PromptOutcome> {
  const lines = input.isTTY ? undefined : new LineReader(input);
  const ask = async (prompt: string): Promise<string | undefined> => {
    let answer: string | undefined;
    if (lines) {
      output.write(prompt);
      answer = await lines.next();
    } else {
      answer = await readHidden(input, output, prompt);
    }
    if (answer === undefined || answer === '') return undefined;
    output.write('\n');
    return answer;
  };
  try {
    const first = await ask('Password: ');
    if (first === undefined) return { error: 'empty' };
    const second = await ask('Reenter password: ');
    if (second === undefined) return { error: 'empty' };
    return first === second ? { password: first } : { error: 'mismatch' };
  } finally {
    lines?.close();
  }
}
