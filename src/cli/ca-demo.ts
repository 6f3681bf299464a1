/**
 * `ambit ca demo`: the README's main job, end to end and self-checking. A CA,
 * two workload identities, `openssl verify` on both, and a TLS 1.3 mutual
 * handshake on 127.0.0.1 where each side prints the peer's SPIFFE ID.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { CA_FILES, CaErrors, CertificateAuthority } from '../controlplane/ca/index.js';
import { AmbitError, CoreErrors, errorMessage } from '../core/errors.js';
import { SpiffeId } from '../identity/index.js';
import { socketPeerIdentity, WorkloadCertificate } from '../tls/index.js';
import { issueToDir } from './ca.js';

const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
const CATALOG = 'spiffe://cluster.local/ns/shop/sa/catalog';
const HANDSHAKE_TIMEOUT_MS = 10_000;

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function fail(step: string, err: unknown): never {
  throw new AmbitError(CaErrors.DEMO_FAILED, `${step}: ${errorMessage(err)}`, { cause: err });
}

export async function runDemo(dirOption: string | undefined): Promise<void> {
  const dir = dirOption ?? mkdtempSync(join(tmpdir(), 'ambit-ca-demo-'));
  const reuse = dirOption !== undefined && CA_FILES.some((f) => existsSync(join(dir, f)));
  let ca: CertificateAuthority;
  try {
    ca = reuse
      ? CertificateAuthority.load(dir)
      : CertificateAuthority.init(dir, { trustDomain: 'cluster.local' });
  } catch (err) {
    fail('creating the CA', err);
  }
  say(
    `[1/4] ${reuse ? 'using the existing' : 'created a'} CA in ${dir} (trust domain ${ca.trustDomain}, ECDSA P-256 root)`,
  );

  const certs: Record<string, WorkloadCertificate> = {};
  for (const uri of [FRONTEND, CATALOG]) {
    const id = SpiffeId.parse(uri);
    const out = join(dir, id.workload?.serviceAccount ?? 'workload');
    try {
      const issued = await issueToDir(ca, id, out);
      certs[uri] = WorkloadCertificate.create({
        chainPem: issued.chainPem,
        keyPem: issued.keyPem,
        roots: ca.trustBundle(),
        expectedIdentity: id,
      });
      say(
        `[2/4] issued ${uri}\n      -> ${join(out, 'cert-chain.pem')}, key.pem (0600), root-cert.pem; valid until ${issued.notAfter.toISOString()}`,
      );
    } catch (err) {
      fail(`issuing ${uri}`, err);
    }
  }

  for (const uri of [FRONTEND, CATALOG]) {
    const out = join(dir, SpiffeId.parse(uri).workload?.serviceAccount ?? 'workload');
    const chain = join(out, 'cert-chain.pem');
    const args = ['verify', '-CAfile', join(out, 'root-cert.pem'), '-untrusted', chain, chain];
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.error) {
      throw new AmbitError(
        CoreErrors.TOOL_MISSING,
        'openssl is not installed (apt-get install openssl)',
        { cause: r.error },
      );
    }
    if (r.status !== 0) fail(`openssl verify ${chain}`, `${r.stdout}${r.stderr}`.trim());
    say(`[3/4] openssl ${args.join(' ')}\n      ${r.stdout.trim()}`);
  }

  try {
    await handshake(certs[CATALOG] as WorkloadCertificate, certs[FRONTEND] as WorkloadCertificate);
  } catch (err) {
    fail('mTLS handshake', err);
  }

  say('\nDone: both identities verify with openssl and authenticate each other over TLS 1.3.');
  say('Next, try:');
  say(`  ambit ca inspect ${join(dir, 'frontend', 'cert-chain.pem')}`);
  say(`  openssl x509 -in ${join(dir, 'frontend', 'cert-chain.pem')} -noout -text`);
  say(
    `  ambit ca issue --dir ${dir} --identity spiffe://cluster.local/ns/shop/sa/checkout --out ${join(dir, 'checkout')} --ttl 1h`,
  );
  say(`  ambit ca rotate-root --dir ${dir}`);
  say('  docs/pki.md explains the CA layout, plug-in CAs and root rotation.');
}

/** Server = catalog, client = frontend; each side prints the peer's SPIFFE ID. */
async function handshake(server: WorkloadCertificate, client: WorkloadCertificate): Promise<void> {
  const srv = createServer(server.tlsOptions());
  const serverSaw = new Promise<string>((resolve, reject) => {
    srv.on('secureConnection', (sock: TLSSocket) => {
      try {
        const peer = socketPeerIdentity(sock);
        say(
          `[4/4] catalog  (server) accepted a TLS ${sock.getProtocol()} client; peer SPIFFE ID = ${peer.uri}`,
        );
        sock.end('hello from catalog\n');
        resolve(peer.uri);
      } catch (err) {
        sock.destroy();
        reject(err);
      }
    });
    srv.on('tlsClientError', reject);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    const clientSaw = new Promise<string>((resolve, reject) => {
      const sock = connect({
        ...client.tlsOptions({ expectedServerIdentities: [server.identity] }),
        host: '127.0.0.1',
        port,
        servername: 'catalog.shop', // SNI only; the identity check is the SPIFFE ID
      });
      sock.setTimeout(HANDSHAKE_TIMEOUT_MS, () => sock.destroy(new Error('handshake timed out')));
      sock.on('secureConnect', () => {
        try {
          const peer = socketPeerIdentity(sock);
          say(
            `[4/4] frontend (client) connected with ${sock.getProtocol()} ${sock.getCipher().name}; peer SPIFFE ID = ${peer.uri}`,
          );
          resolve(peer.uri);
        } catch (err) {
          reject(err);
        }
      });
      sock.on('error', reject);
      sock.on('data', () => {});
      sock.on('end', () => sock.end());
    });
    const [s, c] = await Promise.all([serverSaw, clientSaw]);
    if (s !== client.identity.uri || c !== server.identity.uri) {
      throw new Error(`identities do not match: server saw ${s}, client saw ${c}`);
    }
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}
