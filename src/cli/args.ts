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

/**
 * The exit status of a command line mistake. `culex pub`, `sub` and `passwd` keep their Mosquitto counterpart's 1;
 * every failure that is not a mistake in the command line exits 1.
 */
export const USAGE_STATUS = 2;

/** Reports a command line mistake the way every subcommand does (one line, then where help is) and gives the status. */
export function usageError(command: string, message: string, status = USAGE_STATUS): number {
  process.stderr.write(`culex ${command}: ${message}\nrun 'culex ${command} --help' for usage\n`);
  return status;
}

/** Node's `util.parseArgs` errors in the words of the rest of the command line: `unknown option '--x'`. */
export function parseArgsMessage(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${quoted}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      // Node names the option as '-p, --port <value>' or '--memory'.
      const flag = /--[\w-]+/.exec(quoted)?.[0] ?? quoted;
      return message.includes('argument missing') ? `${flag} needs a value` : `${flag} takes no value`;
    }
    default:
      return message;
  }
}
