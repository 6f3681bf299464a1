/** Helpers for the PKI integration tests: temp dirs, the openssl CLI, TLS handshakes on loopback. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ConnectionOptions,
  connect,
  createServer,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';
import { socketPeerIdentity } from '../../src/tls/index.js';

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'ambit-pki-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs openssl; returns stdout+stderr and the exit status (never throws on a non-zero exit). */
export function openssl(args: string[], cwd?: string): { status: number; out: string } {
  try {
    const out = execFileSync('openssl', args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { status: 0, out };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

export function mustOpenssl(args: string[], cwd?: string): string {
  const r = openssl(args, cwd);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.out}`);
  return r.out;
}

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
O = Example Corp
[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_inter]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_two_uris]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
subjectAltName = critical,URI:spiffe://cluster.local/ns/shop/sa/a,URI:spiffe://cluster.local/ns/shop/sa/b
[v3_certsign_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
subjectAltName = critical,URI:spiffe://cluster.local/ns/shop/sa/a
`;

export function writeOpensslConfig(dir: string): string {
  const p = join(dir, 'openssl.cnf');
  writeFileSync(p, CONFIG);
  return p;
}

/**
 * A "company" PKI made with openssl: an RSA-2048 root and an ECDSA P-256
 * intermediate for the mesh, laid out as Istio plug-in cacerts in `dir`.
 */
export function makeCompanyPluginCa(dir: string): void {
  const cnf = writeOpensslConfig(dir);
  mustOpenssl(
    [
      'req',
      '-x509',
      '-config',
      cnf,
      '-extensions',
      'v3_root',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'company-root-key.pem',
      '-out',
      'root-cert.pem',
      '-days',
      '3650',
      '-subj',
      '/O=Example Corp/CN=Example Root CA',
    ],
    dir,
  );
  mustOpenssl(
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca-key.pem'],
    dir,
  );
  mustOpenssl(
    [
      'req',
      '-new',
      '-config',
      cnf,
      '-key',
      'ca-key.pem',
      '-subj',
      '/O=Example Corp/CN=ambit mesh intermediate',
      '-out',
      'ca.csr',
    ],
    dir,
  );
  mustOpenssl(
    [
      'x509',
      '-req',
      '-in',
      'ca.csr',
      '-CA',
      'root-cert.pem',
      '-CAkey',
      'company-root-key.pem',
      '-set_serial',
      '0x1001',
      '-days',
      '730',
      '-sha256',
      '-extfile',
      cnf,
      '-extensions',
      'v3_inter',
      '-out',
      'ca-cert.pem',
    ],
    dir,
  );
  mustOpenssl(['x509', '-in', 'ca-cert.pem', '-out', 'cert-chain.pem'], dir);
  execFileSync('sh', ['-c', 'cat root-cert.pem >> cert-chain.pem'], { cwd: dir });
}

export interface HandshakeOutcome {
  /** The client's SPIFFE ID as the server saw it, or the server-side error. */
  readonly server: string | Error;
  /** The server's SPIFFE ID as the client saw it, or the client-side error. */
  readonly client: string | Error;
  readonly protocol: string | null;
}

const OUTCOME_TIMEOUT_MS = 5000;

/** One TLS connection on 127.0.0.1; each side reports the peer's SPIFFE ID or its error. */
export async function handshake(
  serverOpts: TlsOptions,
  clientOpts: ConnectionOptions,
): Promise<HandshakeOutcome> {
  const srv = createServer(serverOpts);
  const sockets = new Set<TLSSocket>();
  let protocol: string | null = null;
  const server = new Promise<string | Error>((resolve) => {
    srv.on('secureConnection', (sock: TLSSocket) => {
      sockets.add(sock);
      try {
        resolve(socketPeerIdentity(sock).uri);
      } catch (err) {
        resolve(err as Error);
      }
      sock.end();
    });
    srv.on('tlsClientError', (err) => resolve(err));
    setTimeout(() => resolve(new Error('server: no outcome')), OUTCOME_TIMEOUT_MS).unref();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  const client = new Promise<string | Error>((resolve) => {
    const sock = connect({ ...clientOpts, host: '127.0.0.1', port });
    sockets.add(sock);
    sock.on('secureConnect', () => {
      protocol = sock.getProtocol();
      try {
        resolve(socketPeerIdentity(sock).uri);
      } catch (err) {
        resolve(err as Error);
      }
    });
    sock.on('error', (err) => resolve(err));
    sock.on('data', () => {});
    sock.on('end', () => sock.end());
    setTimeout(() => resolve(new Error('client: no outcome')), OUTCOME_TIMEOUT_MS).unref();
  });
  const [s, c] = await Promise.all([server, client]);
  for (const sock of sockets) sock.destroy();
  await new Promise<void>((r) => srv.close(() => r()));
  return { server: s, client: c, protocol };
}
