/**
 * `culex` entry point: picks the sub-command and loads only its module, so `culex pub` does not pay for the broker.
 * Each command module exports `run(args): Promise<number>` returning the exit code.
 */
import { createRequire } from 'node:module';
import { USAGE_STATUS } from './args.js';

type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  broker: { summary: 'run an MQTT broker', load: () => import('./broker-command.js') },
  pub: { summary: 'publish messages (mosquitto_pub compatible)', load: () => import('./pub-command.js') },
  sub: { summary: 'subscribe and print messages (mosquitto_sub compatible)', load: () => import('./sub-command.js') },
  store: { summary: 'repair a broker data directory whose write-ahead log is damaged', load: () => import('./store-command.js') },
  hub: { summary: 'run and manage an Azure-IoT-Hub-compatible hub', load: () => import('./hub-command.js') },
  passwd: { summary: 'manage a password file (mosquitto_passwd compatible)', load: () => import('./passwd-command.js') },
  token: { summary: 'print cloud device credentials (azure, tencent, aliyun-mq, aliyun-iot)', load: () => import('./token-command.js') },
  ctl: { summary: "operate a running broker through its admin API (clients, retained, trace, ...)", load: () => import('./ctl-command.js') },
};

function usage(): string {
  const lines = ['usage: culex <command> [options]', '', 'commands:'];
  for (const [name, command] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  lines.push('', "run 'culex <command> --help' (or -h; pub and sub: --help) for a command's options; culex --version");
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(usage());
    return USAGE_STATUS;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    if (name === 'help' && rest[0] && commands[rest[0]]) return (await commands[rest[0]]!.load()).run(['--help']);
    console.log(usage());
    return 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    // src/cli and dist/cli both sit two levels below package.json.
    console.log(`culex ${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}`);
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    console.error(`culex: unknown command '${name}'\nrun 'culex --help' for the commands`);
    return USAGE_STATUS;
  }
  return (await command.load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`culex: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
