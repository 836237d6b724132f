import { parseArgs } from 'node:util';
import { Broker } from '../broker/broker.js';
import { stderrLogger } from '../broker/logger.js';
import { defaultLimits, isLoopback } from '../broker/options.js';

const help = `usage: culex broker [options]

Runs an MQTT 3.1/3.1.1/5.0 broker in the foreground until SIGINT or SIGTERM.

options:
  -p, --port N            TCP port to listen on (default 1883)
      --host H            address to listen on (default 127.0.0.1)
      --allow-anonymous   accept clients without a user name (default: only on a loopback address)
      --max-keepalive S   longest keepalive in seconds; v5 clients get Server Keep Alive (default ${defaultLimits.maxKeepalive})
      --sys-interval S    seconds between $SYS updates, 0 = off (default 10)
  -v, --verbose           log debug lines too (default: info)
      --help              show this help
`;

function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, not '${value}'`);
  return n;
}

/** `culex broker`: a broker on one TCP listener, stopped cleanly by a signal. */
export async function run(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'allow-anonymous': { type: 'boolean' },
        'max-keepalive': { type: 'string' },
        'sys-interval': { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`culex broker: ${err instanceof Error ? err.message : String(err)}\n\n${help}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  let port: number;
  let maxKeepalive: number | undefined;
  let sysInterval: number | undefined;
  try {
    port = integer(values.port, 'port', 0, 65535) ?? 1883;
    maxKeepalive = integer(values['max-keepalive'], 'max-keepalive', 1, 65535);
    sysInterval = integer(values['sys-interval'], 'sys-interval', 0, 86400);
  } catch (err) {
    process.stderr.write(`culex broker: ${(err as Error).message}\n`);
    return 2;
  }
  const host = values.host ?? '127.0.0.1';
  const logger = stderrLogger(values.verbose ? 'debug' : 'info');
  const broker = new Broker({
    listeners: [{ host, port }],
    allowAnonymous: values['allow-anonymous'] ? true : undefined,
    limits: maxKeepalive === undefined ? undefined : { maxKeepalive },
    sysInterval,
    logger,
  });
  try {
    await broker.listen();
  } catch (err) {
    logger.error(`cannot start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  if (!isLoopback(host) && !values['allow-anonymous']) {
    logger.info('anonymous clients are refused on a non-loopback address; --allow-anonymous accepts them');
  }
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  logger.info(`${signal}: stopping (again to force)`);
  const force = (): void => {
    logger.warn('forced stop');
    process.exit(1);
  };
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  await broker.close();
  process.off('SIGINT', force);
  process.off('SIGTERM', force);
  logger.info('stopped');
  return 0;
}
