import { createRequire } from 'node:module';

/** The package version (src/broker and dist/broker both sit two levels below package.json). */
export const version: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
