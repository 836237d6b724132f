import { lstat, unlink } from 'node:fs/promises';
import { connect, type ListenOptions, type Server } from 'node:net';

/** Binds `server` to a port or a Unix socket path; rejects with the bind's error. */
export function listenOn(server: Server, where: ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Whether a server answers on the Unix socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Binds `server` to the Unix socket at `path`. A server that stops removes its socket file, one that dies does not:
 * a socket file nobody answers on is such a leftover and is replaced, so a restart after a crash works. A file that
 * is not a socket, or a socket another server answers on, is left alone and the bind fails.
 */
export async function listenUnix(server: Server, path: string, backlog?: number): Promise<void> {
  try {
    await listenOn(server, { path, backlog });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    const stats = await lstat(path).catch(() => undefined);
    if (!stats?.isSocket()) throw new Error(`${path} exists and is not a socket`, { cause: error });
    if (await answers(path)) throw new Error(`${path} is in use by another server`, { cause: error });
  }
  await unlink(path);
  await listenOn(server, { path, backlog });
}
