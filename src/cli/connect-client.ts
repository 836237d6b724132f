/**
 * The start both `culex pub` and `culex sub` make: read the arguments or print the usage error, then connect as
 * the flags say or print why not. Either way the caller gets a client or the exit code.
 */
import { connect, type MqttClient, type ClientOptions } from '../client/index.js';
import { UsageError, usageError } from './args.js';
import { describeFailure, reportError } from './client-errors.js';
import { brokerUrl, clientOptions, type ClientFlags } from './client-flags.js';

/** Parses the arguments: the flags, 'help', or the exit code after a usage error was printed. */
export function parseOrReport<T>(command: string, parse: () => T | 'help', help: string): T | number {
  try {
    const flags = parse();
    if (flags !== 'help') return flags;
    process.stdout.write(help);
    return 0;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // Mosquitto's tools exit 1 on bad arguments.
    return usageError(command, err.message, 1);
  }
}

/**
 * Runs `prepare` (reading input that must be there before connecting), then connects. Failures are printed as one
 * line; the result is then the exit code.
 */
export async function connectClient(command: string, flags: ClientFlags, overrides: ClientOptions,
  prepare?: () => Promise<void>): Promise<MqttClient | number> {
  const url = brokerUrl(flags);
  try {
    await prepare?.();
    const client = await connect(url, { ...(await clientOptions(flags, command)), ...overrides });
    if (flags.debug) process.stderr.write(`culex ${command}: connected to ${url.href} as ${client.clientId}\n`);
    return client;
  } catch (err) {
    if (err instanceof UsageError) {
      reportError(command, flags, err.message);
      return 1;
    }
    const failure = describeFailure(err, url);
    reportError(command, flags, failure.message);
    return failure.exitCode;
  }
}
