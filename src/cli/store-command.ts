import { parseArgs } from 'node:util';
import { parseArgsMessage, usageError } from './args.js';
import { LevelStore, type SegmentRepair, type StoreRepair } from '../broker/index.js';

const help = `usage: culex store repair [--dry-run] DIR

Salvages the data directory DIR of a broker that refuses to start because its write-ahead log is damaged. Each
log segment that is not intact is copied aside (log/NNNNNNNNNNNNNNNN.log.damaged-TIME) and rewritten with every
intact record it holds; what the damaged bytes held is lost. Then the store is opened as \`culex broker\` would
open it and closed again, so that the broker starts. The directory must not be in use.

options:
      --dry-run   report what would be kept and skipped; change nothing
  -h, --help      show this help

exit codes: 0 done (or nothing to repair), 1 the repair failed (one line on stderr says why), 2 bad usage
`;

/** `culex store repair DIR`. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    return usageError('store', parseArgsMessage(err));
  }
  if (parsed.values.help) {
    process.stdout.write(help);
    return 0;
  }
  const [action, dir, ...extra] = parsed.positionals;
  if (action !== 'repair' || dir === undefined || extra.length > 0) {
    return usageError('store', action === undefined || action === 'repair' ? 'repair takes one data directory' : `unknown command '${action}'`);
  }
  const dryRun = parsed.values['dry-run'] === true;
  let result: StoreRepair;
  try {
    result = await new LevelStore(dir).repair({ dryRun });
  } catch (err) {
    process.stderr.write(`culex store: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  if (result.segments.length === 0) process.stdout.write('no write-ahead log segments: nothing to repair\n');
  for (const segment of result.segments) process.stdout.write(`${describe(segment, dryRun)}\n`);
  const found = result.recovered;
  if (found === undefined) process.stdout.write('dry run: nothing was changed\n');
  else {
    process.stdout.write(
      `the store opens: ${found.sessions} sessions, ${found.subscriptions} subscriptions, ${found.outgoing} outgoing and ` +
        `${found.incoming} incoming messages, ${found.retained} retained messages\n`,
    );
  }
  return 0;
}

function describe(segment: SegmentRepair, dryRun: boolean): string {
  if (segment.skipped.length === 0 && segment.lengthsRepaired === 0) return `${segment.path}: intact, ${segment.kept} records`;
  const parts = [`${segment.kept} records ${dryRun ? 'would be ' : ''}kept`];
  if (segment.lengthsRepaired > 0) parts.push(`${segment.lengthsRepaired} of them with a damaged length field ${dryRun ? 'to be ' : ''}corrected`);
  for (const gap of segment.skipped) {
    const what = gap.torn ? `${gap.what}: an unfinished last append, never acknowledged` : gap.what;
    parts.push(`bytes ${gap.from}-${gap.to} ${dryRun ? 'would be ' : ''}skipped (${gap.to - gap.from} bytes, ${what})`);
  }
  if (segment.copy !== undefined) parts.push(`the damaged file is kept as ${segment.copy}`);
  return `${segment.path}: ${parts.join('; ')}`;
}
