/**
 * What `culex pub` and `culex sub` print when they fail: one line naming the cause, and the exit code the
 * Mosquitto tools give for it (the CONNACK code, 8 for TLS, 27 for a timeout, 1 otherwise).
 */
import { ConnectionRefusedError } from '../client/index.js';
import { connectReturnCodeName, reasonCodeName } from '../packet/index.js';

const defaultPorts: Record<string, number> = { 'mqtt:': 1883, 'mqtts:': 8883, 'ws:': 80, 'wss:': 443 };

/** The one-line error and the exit code for a failure, the codes matching those of the Mosquitto tools. */
export function describeFailure(error: unknown, url: URL): { message: string; exitCode: number } {
  const where = url.protocol === 'unix:' ? decodeURIComponent(url.pathname) : `${url.hostname}:${url.port || defaultPorts[url.protocol] || 1883}`;
  if (error instanceof ConnectionRefusedError) {
    const code = error.reasonCode ?? 1;
    const words = error.protocolVersion === 5 ? reasonCodeName(code) : connectReturnCodeName(code);
    const packet = error.protocolVersion === 5 ? `reason code 0x${code.toString(16)}` : `return code ${code}`;
    const why = error.reasonString ? `: ${error.reasonString}` : '';
    return { message: `${where} refused the connection: ${words} (${packet})${why}`, exitCode: code };
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const text = error instanceof Error ? error.message : String(error);
  const secure = url.protocol === 'mqtts:' || url.protocol === 'wss:';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return { message: `TLS verification of ${where} failed: the server certificate does not name '${url.hostname}' (--insecure skips this check)`, exitCode: 8 };
  }
  if (code && /CERT|SIGNATURE|ISSUER|SELF_SIGNED|VERIFY/.test(code)) {
    return { message: `TLS verification of ${where} failed: ${text} (${code}); is --cafile the CA that signed the server certificate?`, exitCode: 8 };
  }
  if (code?.startsWith('ERR_SSL') || code?.startsWith('ERR_TLS') || (secure && (code === 'ECONNRESET' || /TLS|SSL/.test(text)))) {
    return { message: `TLS handshake with ${where} failed: ${text}${code ? ` (${code})` : ''}; is it a TLS port?`, exitCode: 8 };
  }
  switch (code) {
    case 'ECONNREFUSED':
      return { message: `cannot connect to ${where}: connection refused (is a broker listening there?)`, exitCode: 1 };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return { message: `cannot resolve host '${url.hostname}' (DNS lookup failed: ${code})`, exitCode: 1 };
    case 'ETIMEDOUT':
      return { message: `timed out connecting to ${where}`, exitCode: 27 };
    case 'ECONNRESET':
    case 'EPIPE':
      return { message: `connection to ${where} lost: ${code}`, exitCode: 7 };
    case 'ENOENT':
      // Only a Unix socket path can be missing.
      return { message: `cannot connect to ${where}: no such socket (is a broker listening there?)`, exitCode: 1 };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { message: `cannot reach ${where}: ${code}`, exitCode: 1 };
  }
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError') return { message: `timed out connecting to ${where}: ${text}`, exitCode: 27 };
  return { message: `${where}: ${text}`, exitCode: 1 };
}

/** Writes a one-line error unless `--quiet`. */
export function reportError(command: string, flags: { quiet: boolean }, message: string): void {
  if (!flags.quiet) process.stderr.write(`culex ${command}: ${message}\n`);
}
