import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The CA certificates of a `capath` directory (Mosquitto's `capath`, the tools' `--capath`): every `*.pem` and
 * `*.crt` file in name order. OpenSSL's hashed links are not needed.
 */
export async function readCaPath(dir: string): Promise<Buffer[]> {
  const names = (await readdir(dir)).filter((name) => /\.(pem|crt)$/.test(name)).sort();
  return Promise.all(names.map((name) => readFile(join(dir, name))));
}
