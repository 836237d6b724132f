/**
 * The configured methods (password/ACL files, an HTTP service, JWT) loaded and chained in their order
 * (method-chain.ts) as one set of broker hooks, re-read together on SIGHUP.
 */
import { silentLogger, type BrokerHooks, type Logger } from '../broker/index.js';
import { FileAuth, type FileAuthOptions } from './file-auth.js';
import { HttpAuth, type HttpAuthOptions } from './http-auth.js';
import { JwtAuth, type JwtAuthOptions } from './jwt-auth.js';
import { chainHooks, type AuthMethod, type NoMatch } from './method-chain.js';

export type AuthMethodName = 'file' | 'http' | 'jwt';

export interface AuthChainOptions extends FileAuthOptions {
  http?: HttpAuthOptions;
  jwt?: JwtAuthOptions;
  /** The order the methods are asked in; it must name each configured method once (default file, http, jwt). */
  order?: AuthMethodName[];
  /** What a publication, subscription or delivery no method decided gets (default allow). */
  noMatch?: NoMatch;
}

const DEFAULT_ORDER: readonly AuthMethodName[] = ['file', 'http', 'jwt'];

function configured(options: AuthChainOptions): AuthMethodName[] {
  const names: AuthMethodName[] = [];
  if (options.passwordFile !== undefined || options.aclFile !== undefined || options.scramFile !== undefined) names.push('file');
  if (options.http !== undefined) names.push('http');
  if (options.jwt !== undefined) names.push('jwt');
  return names;
}

/** The order asked for, checked against the methods configured. */
function orderOf(options: AuthChainOptions): AuthMethodName[] {
  const present = configured(options);
  if (options.order === undefined) return DEFAULT_ORDER.filter((name) => present.includes(name));
  const order = options.order;
  const twice = order.find((name, i) => order.indexOf(name) !== i);
  if (twice !== undefined) throw new Error(`auth.order: '${twice}' is listed twice`);
  const absent = order.find((name) => !present.includes(name));
  if (absent !== undefined) throw new Error(`auth.order: '${absent}' is listed but not configured (${absent === 'file' ? 'passwordFile, aclFile or scramFile' : `auth.${absent}`})`);
  const missing = present.find((name) => !order.includes(name));
  if (missing !== undefined) throw new Error(`auth.order: '${missing}' is configured but not listed`);
  return order;
}

export class AuthChain {
  private constructor(
    private readonly methods: readonly AuthMethod[],
    private readonly noMatch: NoMatch,
    private readonly reloaders: ReadonlyArray<() => Promise<void>>,
    /** The HTTP method, for its counts. */
    readonly http: HttpAuth | undefined,
  ) {}

  static async load(options: AuthChainOptions, { logger = silentLogger }: { logger?: Logger } = {}): Promise<AuthChain> {
    const order = orderOf(options);
    const { http: httpOptions, jwt: jwtOptions, order: _order, noMatch = 'allow', ...fileOptions } = options;
    const [file, jwt] = await Promise.all([
      order.includes('file') ? FileAuth.load(fileOptions) : undefined,
      jwtOptions === undefined ? undefined : JwtAuth.load(jwtOptions),
    ]);
    const http = httpOptions === undefined ? undefined : new HttpAuth(httpOptions, { logger });
    const byName: Record<AuthMethodName, AuthMethod | undefined> = { file: file?.method(), http: http?.method(), jwt: jwt?.method() };
    const reloaders = [file, jwt].filter((m) => m !== undefined).map((m) => () => m.reload());
    return new AuthChain(order.map((name) => byName[name]!), noMatch, reloaders, http);
  }

  /** The hooks to give the broker (or a listener). */
  get hooks(): BrokerHooks {
    return chainHooks(this.methods, this.noMatch);
  }

  /** Counters of the HTTP service, named as `$SYS/broker/...` topics (none without one). */
  figures(): Array<[string, number]> {
    const counts = this.http?.counts;
    if (counts === undefined) return [];
    return [['auth/http/requests', counts.requests], ['auth/http/cached', counts.cached], ['auth/http/down', counts.down]];
  }

  /** Re-reads the password, ACL, SCRAM and key files; on a failure the ones that did not load stay as they were. */
  async reload(): Promise<void> {
    await Promise.all(this.reloaders.map((reload) => reload()));
  }
}
