/**
 * Turns a Mosquitto password file, a Mosquitto ACL file and a SCRAM-SHA-256 credential file (each optional) into
 * broker hooks, as Mosquitto's `password_file` and `acl_file` do:
 *
 * - With a password file, a client that gives a user name must be listed and give the right password (else
 *   0x86 Bad user name or password, return code 4 in 3.x). Clients without a user name are left to the
 *   listener's anonymous rule. Without a password file user names are taken as given, unless there are SCRAM
 *   credentials: then a user name needs SCRAM.
 * - With SCRAM credentials, MQTT 5 clients may authenticate with method `SCRAM-SHA-256` (also to
 *   re-authenticate); another method gets 0x8C.
 * - With an ACL file, publications (and Wills) need write access and subscriptions a filter under which something
 *   is readable, and each delivery (retained and queued messages included) read access.
 *
 * `reload()` re-reads the files (SIGHUP): connected clients keep their session and are judged by the new rules
 * from their next packet on. A file that fails to parse leaves the previous rules in place.
 */
import { ReasonCode, type AuthenticateContext, type BrokerHooks, type ClientInfo } from '../broker/index.js';
import { Acl, type ClientAcl } from './acl.js';
import { loadAclFile } from './acl-file.js';
import { chainHooks, type AuthMethod, type LoginAnswer, type Verdict } from './method-chain.js';
import { PasswordFile } from './password-file.js';
import { SCRAM_SHA_256, ScramError, ScramServer, type ScramCredential } from './scram.js';
import { loadScramCredentials } from './scram-credentials.js';

export interface FileAuthOptions {
  passwordFile?: string;
  aclFile?: string;
  /** SCRAM-SHA-256 credentials (see scram-credentials.ts). */
  scramFile?: string;
  /** Keys the made-up SCRAM salts of unknown users (see ScramServerOptions.secret). */
  scramSecret?: Uint8Array;
}


interface Loaded {
  passwords: PasswordFile | undefined;
  acl: Acl | undefined;
  scram: Map<string, ScramCredential> | undefined;
  /** The iteration count of the first SCRAM user, announced for unknown ones too. */
  scramIterations: number | undefined;
}

async function loadAll(options: FileAuthOptions): Promise<Loaded> {
  const [passwords, rules, scram] = await Promise.all([
    options.passwordFile === undefined ? undefined : PasswordFile.load(options.passwordFile),
    options.aclFile === undefined ? undefined : loadAclFile(options.aclFile),
    options.scramFile === undefined ? undefined : loadScramCredentials(options.scramFile),
  ]);
  return { passwords, acl: rules && new Acl(rules), scram, scramIterations: scram?.values().next().value?.iterations };
}

export class FileAuth {
  /** Per client, the ACL with its patterns filled in, and the rules and user name it was made for. */
  private readonly clientAcls = new WeakMap<ClientInfo, { acl: Acl; username: string | undefined; rules: ClientAcl }>();

  private constructor(
    private readonly options: FileAuthOptions,
    private loaded: Loaded,
  ) {}

  static async load(options: FileAuthOptions): Promise<FileAuth> {
    return new FileAuth(options, await loadAll(options));
  }

  async reload(): Promise<void> {
    this.loaded = await loadAll(this.options);
  }

  /** The hooks to give the broker (or a listener). Only those the loaded files call for are present. */
  get hooks(): BrokerHooks {
    return chainHooks([this.method()]);
  }

  /**
   * These files as one method of a chain (method-chain.ts): a user the password file does not list, and a client
   * without a user name, are left to the other methods; a listed user with a wrong password is refused. The ACL
   * file decides every request it is asked, as in Mosquitto: what it does not allow is denied.
   */
  method(): AuthMethod {
    const method: AuthMethod = { name: 'file', authenticationMethods: this.options.scramFile === undefined ? [] : [SCRAM_SHA_256] };
    if (this.options.passwordFile !== undefined || this.options.scramFile !== undefined) {
      method.authenticate = (context) => this.authenticate(context);
    }
    if (this.options.aclFile !== undefined) {
      const verdict = (allowed: boolean | undefined): Verdict => (allowed === false ? 'deny' : 'allow');
      method.authorizePublish = ({ client, topic }) => verdict(this.forClient(client)?.canWrite(topic));
      method.authorizeSubscribe = ({ client, subscription }) => verdict(this.forClient(client)?.canSubscribe(subscription.topicFilter));
      method.authorizeRead = (client, topic) => verdict(this.canRead(client, topic));
    }
    return method;
  }

  /** May this message (a live one or a retained one) go to this client? True when there is no ACL file. */
  canRead(client: ClientInfo, topic: string): boolean {
    return this.forClient(client)?.canRead(topic) ?? true;
  }

  private forClient(client: ClientInfo): ClientAcl | undefined {
    const acl = this.loaded.acl;
    if (acl === undefined) return undefined;
    const cached = this.clientAcls.get(client);
    if (cached && cached.acl === acl && cached.username === client.username) return cached.rules;
    const rules = acl.forClient(client.clientId, client.username);
    this.clientAcls.set(client, { acl, username: client.username, rules });
    return rules;
  }

  private async authenticate(context: AuthenticateContext): Promise<LoginAnswer> {
    if (context.method !== undefined) return this.authenticateScram(context);
    const { passwords } = this.loaded;
    if (context.username === undefined) return { verdict: 'ignore' };
    // With only SCRAM credentials configured, a user name is accepted only once SCRAM has proved it.
    if (passwords === undefined) return { verdict: 'ignore', reasonCode: ReasonCode.BadUserNameOrPassword, reason: 'this listener needs SCRAM-SHA-256' };
    // Verified even without a password, so a missing one costs the same time as a wrong one.
    const ok = await passwords.verify(context.username, context.password ?? new Uint8Array(0));
    if (ok && context.password !== undefined) return { verdict: 'allow' };
    const refusal = { reasonCode: ReasonCode.BadUserNameOrPassword, reason: 'bad user name or password' };
    return passwords.has(context.username) ? { verdict: 'deny', ...refusal } : { verdict: 'ignore', ...refusal };
  }

  private async authenticateScram(context: AuthenticateContext): Promise<LoginAnswer> {
    const credentials = this.loaded.scram;
    if (context.method !== SCRAM_SHA_256 || credentials === undefined) {
      return { verdict: 'deny', reasonCode: ReasonCode.BadAuthenticationMethod, reason: `authentication method ${context.method} is not supported` };
    }
    if (context.data === undefined) return { verdict: 'deny', reasonCode: ReasonCode.NotAuthorized, reason: 'SCRAM message missing' };
    try {
      if (!(context.state instanceof ScramServer)) {
        const server = new ScramServer({
          lookup: (name) => credentials.get(name),
          ...(this.options.scramSecret ? { secret: this.options.scramSecret } : {}),
          ...(this.loaded.scramIterations ? { decoyIterations: this.loaded.scramIterations } : {}),
        });
        context.state = server;
        return { verdict: 'continue', data: Buffer.from(await server.serverFirst(context.data)) };
      }
      const server = context.state;
      const final = server.serverFinal(context.data);
      const username = server.username!;
      // A CONNECT user name (or the user of a live connection) must be the one SCRAM proved.
      if (context.username !== undefined && context.username !== username) {
        return { verdict: 'deny', reasonCode: ReasonCode.NotAuthorized, reason: 'SCRAM user differs from the user name' };
      }
      return { verdict: 'allow', username, data: Buffer.from(final) };
    } catch (err) {
      if (!(err instanceof ScramError)) throw err;
      return { verdict: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reason: `SCRAM: ${err.message}` };
    }
  }
}
