/**
 * The dashboard: a page, its script and the browser client of its MQTT console, served at `/` without credentials (they hold no data: the page asks for
 * credentials and calls the API with them). Built by `npm run build` (scripts/build-dashboard.mjs) into
 * dist/dashboard, read once at start.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notFound } from './http-error.js';
import type { Route } from './routes.js';

/** dist/dashboard from this file whether it runs as src/ops/*.ts or dist/ops/*.js. */
export const defaultDashboardDir = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));

const FILES = [
  { path: '/', file: 'index.html', contentType: 'text/html; charset=utf-8' },
  { path: '/dashboard/app.js', file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  { path: '/dashboard/culex.js', file: 'culex.js', contentType: 'text/javascript; charset=utf-8' },
] as const;

function read(dir: string, file: string): string | undefined {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

export function dashboardRoutes(dir: string): Route[] {
  return FILES.map(({ path, file, contentType }) => {
    const text = read(dir, file);
    return {
      method: 'GET',
      path,
      public: true,
      handle: () => {
        if (text === undefined) throw notFound(`the dashboard is not built here (${join(dir, file)}): run npm run build`);
        return { text, contentType };
      },
    };
  });
}
