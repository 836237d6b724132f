import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCerts {
  dir: string;
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  /** Client certificate with CN `culex-client`, signed by the same CA. */
  clientCert: Buffer;
  clientKey: Buffer;
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

/** Signs a new EC key's certificate with the test CA. */
export async function issueCertificate(
  certs: Pick<TestCerts, 'dir' | 'caFile' | 'caKeyFile'>,
  name: string,
  subject: string,
  extensions = '',
): Promise<{ certFile: string; keyFile: string }> {
  const { dir } = certs;
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  await openssl(dir, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile);
  await openssl(dir, 'req', '-new', '-key', keyFile, '-subj', subject, '-out', join(dir, `${name}.csr`));
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  await openssl(dir, 'x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', certs.caFile, '-CAkey', certs.caKeyFile,
    '-CAcreateserial', '-days', '2', '-sha256', '-extfile', ext, '-out', certFile);
  return { certFile, keyFile };
}

let cached: Promise<TestCerts> | undefined;

/** A throw-away EC CA, a server certificate for localhost/127.0.0.1 and a client certificate; made once per process. */
export function makeCerts(): Promise<TestCerts> {
  cached ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-certs-'));
    const caKeyFile = join(dir, 'ca.key');
    const caFile = join(dir, 'ca.crt');
    await openssl(dir, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKeyFile);
    await openssl(dir, 'req', '-x509', '-new', '-key', caKeyFile, '-subj', '/CN=Culex Test CA', '-days', '2',
      '-sha256', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', caFile);
    const base = { dir, caFile, caKeyFile };
    const server = await issueCertificate(base, 'server', '/CN=localhost',
      'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    const client = await issueCertificate(base, 'client', '/O=Culex Tests/CN=culex-client',
      'extendedKeyUsage=clientAuth\n');
    return {
      ...base,
      ca: readFileSync(caFile),
      serverCert: readFileSync(server.certFile),
      serverKey: readFileSync(server.keyFile),
      clientCert: readFileSync(client.certFile),
      clientKey: readFileSync(client.keyFile),
      serverCertFile: server.certFile,
      serverKeyFile: server.keyFile,
      clientCertFile: client.certFile,
      clientKeyFile: client.keyFile,
    };
  })();
  return cached;
}
