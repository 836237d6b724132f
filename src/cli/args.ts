/**
 * A cursor over a command line, in the manner of the Mosquitto tools: flags are whole words (`-t`, `--will-qos`),
 * each followed by a fixed number of values. Mistakes are UsageErrors, printed as one line by the command.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export class ArgReader {
  private index = 0;

  constructor(private readonly args: readonly string[]) {}

  /** The next flag, or undefined at the end. */
  nextFlag(): string | undefined {
    return this.args[this.index++];
  }

  /** The value following `flag`; `what` names it in the error when it is missing. */
  value(flag: string, what: string): string {
    const value = this.args[this.index];
    if (value === undefined) throw new UsageError(`${flag} needs ${what}`);
    this.index++;
    return value;
  }

  integer(flag: string, what: string, min: number, max: number): number {
    const text = this.value(flag, what);
    const n = Number(text);
    if (!/^-?\d+$/.test(text) || n < min || n > max) {
      throw new UsageError(`${flag} takes ${what} from ${min} to ${max}, not '${text}'`);
    }
    return n;
  }

  qos(flag: string): 0 | 1 | 2 {
    return this.integer(flag, 'a QoS', 0, 2) as 0 | 1 | 2;
  }
}
