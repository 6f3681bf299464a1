/**
 * `ambit ca …`: create, inspect and use a mesh CA from the command line.
 * The CA lives in Istio's cacerts layout, so the same directory can be
 * mounted as istiod's `cacerts` secret (and vice versa).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { CertificateAuthority } from '../controlplane/ca/index.js';
import { parseDuration } from '../core/duration.js';
import { errorMessage, isAmbitError } from '../core/errors.js';
import { SpiffeId } from '../identity/index.js';
import {
  createCsr,
  parseCertificate,
  splitPemCertificates,
  TrustBundle,
  verifyChain,
} from '../tls/index.js';
import { runDemo } from './ca-demo.js';
import { outputOption, printResult } from './output.js';
import { writeSecretFile } from './secret-file.js';

export function registerCa(program: Command): void {
  const ca = program
    .command('ca')
    .description(
      'the mesh certificate authority (Istio cacerts layout): init, issue, inspect, rotate',
    );

  ca.command('init')
    .description('create a self-signed ECDSA P-256 root CA (10 years) in DIR')
    .requiredOption(
      '--dir <dir>',
      'CA directory (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)',
    )
    .option('--trust-domain <td>', 'trust domain of issued identities', 'cluster.local')
    .option('--force', 'replace an existing CA in DIR', false)
    .action((o: { dir: string; trustDomain: string; force: boolean }) => {
      const authority = CertificateAuthority.init(o.dir, {
        trustDomain: o.trustDomain,
        force: o.force,
      });
      process.stdout.write(
        `created CA in ${o.dir} (trust domain ${authority.trustDomain}, root valid until ${new Date(authority.signer.validTo).toISOString()})\n`,
      );
    });

  ca.command('issue')
    .description(
      'issue a workload certificate for a SPIFFE ID (writes cert-chain.pem, key.pem, root-cert.pem)',
    )
    .requiredOption('--dir <dir>', 'CA directory')
    .requiredOption('--identity <spiffe-id>', 'e.g. spiffe://cluster.local/ns/shop/sa/frontend')
    .requiredOption('--out <dir>', 'output directory')
    .option('--ttl <duration>', 'certificate lifetime (default 24h, max 90d)')
    .action(async (o: { dir: string; identity: string; out: string; ttl?: string }) => {
      const authority = CertificateAuthority.load(o.dir);
      const ttlMs = o.ttl === undefined ? undefined : parseDuration(o.ttl, '--ttl');
      const issued = await issueToDir(authority, SpiffeId.parse(o.identity), o.out, ttlMs);
      process.stdout.write(
        `issued ${o.identity} valid until ${issued.notAfter.toISOString()}\n  ${join(o.out, 'cert-chain.pem')}\n  ${join(o.out, 'key.pem')} (0600)\n  ${join(o.out, 'root-cert.pem')}\n`,
      );
    });

  ca.command('inspect')
    .description(
      'show identity, issuer, validity, key usage and chain status of a certificate file',
    )
    .argument('<file>', 'PEM file: one certificate or a chain, leaf first')
    .option('--root <file>', 'trusted roots (default: root-cert.pem next to FILE, if present)')
    .addOption(outputOption())
    .action((file: string, o: { root?: string; output?: string }) => {
      const result = inspectFile(file, o.root);
      printResult(o.output, result, () => renderInspect(result));
      if (result.chain.status !== 'verified' && result.chain.status !== 'no-root')
        process.exitCode = 1;
    });

  ca.command('rotate-root')
    .description(
      'start a root rotation: new self-signed root signs, root-cert.pem trusts old + new',
    )
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--finish', 'end the rotation: drop the old roots from root-cert.pem', false)
    .action((o: { dir: string; finish: boolean }) => {
      if (o.finish) {
        const authority = CertificateAuthority.finishRootRotation(o.dir);
        process.stdout.write(
          `root-cert.pem now holds ${authority.roots.size} root: ${fingerprint(authority.signer)}\n`,
        );
        return;
      }
      const authority = CertificateAuthority.rotateRoot(o.dir);
      process.stdout.write(
        `new root ${fingerprint(authority.signer)} now signs; root-cert.pem holds ${authority.roots.size} roots.\n` +
          'Distribute root-cert.pem to every node, wait until all old certificates have expired, then run\n' +
          `  ambit ca rotate-root --dir ${o.dir} --finish\n`,
      );
    });

  ca.command('demo')
    .description(
      'the main job, end to end: a CA, two workload identities, openssl verify, an mTLS handshake',
    )
    .option('--dir <dir>', 'CA directory (default: a fresh temporary directory, kept)')
    .action(async (o: { dir?: string }) => {
      await runDemo(o.dir);
    });
}

/** Issues `identity` into `out` as cert-chain.pem (leaf first), key.pem (0600) and root-cert.pem. */
export async function issueToDir(
  authority: CertificateAuthority,
  identity: SpiffeId,
  out: string,
  ttlMs?: number,
): Promise<{ notAfter: Date; chainPem: string[]; keyPem: string }> {
  const { csrPem, keyPem } = await createCsr(identity);
  const issued = authority.sign(csrPem, ttlMs === undefined ? { identity } : { identity, ttlMs });
  mkdirSync(out, { recursive: true });
  writeSecretFile(join(out, 'key.pem'), keyPem);
  writeSecretFile(join(out, 'cert-chain.pem'), issued.chainPem.join(''), 0o644);
  writeSecretFile(join(out, 'root-cert.pem'), authority.trustBundle().join(''), 0o644);
  return { notAfter: issued.notAfter, chainPem: issued.chainPem, keyPem };
}

function fingerprint(c: X509Certificate): string {
  return `sha256:${c.fingerprint256.replaceAll(':', '').toLowerCase().slice(0, 16)}…`;
}

interface CertSummary {
  subject: string;
  identity: string | null;
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  isCA: boolean;
  keyUsage: string[];
  extKeyUsage: string[];
  publicKey: string;
  fingerprint256: string;
}

interface InspectResult {
  file: string;
  certificates: CertSummary[];
  chain: {
    status: 'verified' | 'untrusted' | 'expired' | 'invalid' | 'no-root';
    root: string | null;
    message: string;
  };
}

const EKU_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
};

function summarize(pem: string): CertSummary {
  const x = new X509Certificate(pem);
  const info = parseCertificate(x);
  const uris = info.san?.uris ?? [];
  const key = x.publicKey;
  return {
    subject: (x.subject ?? '').replaceAll('\n', ', '),
    identity: uris.length === 1 ? (SpiffeId.tryParse(uris[0] as string)?.uri ?? null) : null,
    uris,
    dnsNames: info.san?.dnsNames ?? [],
    ipAddresses: info.san?.ipAddresses ?? [],
    issuer: (x.issuer ?? '').replaceAll('\n', ', '),
    serial: x.serialNumber.toLowerCase(),
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    isCA: info.basicConstraints?.cA ?? false,
    keyUsage: [...(info.keyUsage ?? [])],
    extKeyUsage: (info.extKeyUsage ?? []).map((o) => EKU_NAMES[o] ?? o),
    publicKey: `${key.asymmetricKeyType ?? '?'} ${key.asymmetricKeyDetails?.namedCurve ?? `${key.asymmetricKeyDetails?.modulusLength ?? ''} bits`}`,
    fingerprint256: x.fingerprint256,
  };
}

function inspectFile(file: string, rootFile: string | undefined): InspectResult {
  const pems = splitPemCertificates(readFileSync(file, 'utf8'));
  const certificates = pems.map(summarize);
  const rootPath = rootFile ?? join(dirname(file), 'root-cert.pem');
  if (!existsSync(rootPath)) {
    return {
      file,
      certificates,
      chain: {
        status: 'no-root',
        root: null,
        message: 'no root given (--root) and no root-cert.pem next to the file',
      },
    };
  }
  try {
    const bundle = TrustBundle.fromPem(readFileSync(rootPath, 'utf8'));
    const v = verifyChain(pems, bundle);
    return {
      file,
      certificates,
      chain: {
        status: 'verified',
        root: rootPath,
        message: `chains to ${(v.root.subject ?? '').replaceAll('\n', ', ')} (${v.path.length} certificates)`,
      },
    };
  } catch (err) {
    const code = isAmbitError(err) ? err.code : '';
    const status = code.endsWith('CERT_EXPIRED')
      ? 'expired'
      : code.endsWith('CERT_UNTRUSTED')
        ? 'untrusted'
        : 'invalid';
    return { file, certificates, chain: { status, root: rootPath, message: errorMessage(err) } };
  }
}

function renderInspect(r: InspectResult): string {
  const lines: string[] = [];
  r.certificates.forEach((c, i) => {
    const role = i === 0 ? (c.isCA ? 'CA certificate' : 'leaf') : c.isCA ? 'CA' : 'certificate';
    lines.push(`[${i}] ${role}`);
    const row = (k: string, v: string): void => {
      lines.push(`    ${`${k}:`.padEnd(14)}${v}`);
    };
    row('Identity', c.identity ?? (c.uris.length > 0 ? c.uris.join(', ') : '<none>'));
    if (c.dnsNames.length + c.ipAddresses.length > 0)
      row('Names', [...c.dnsNames, ...c.ipAddresses].join(', '));
    row('Subject', c.subject || '<empty>');
    row('Issuer', c.issuer || '<empty>');
    row('Valid', `${c.notBefore} to ${c.notAfter}`);
    row('Key usage', [...c.keyUsage, ...c.extKeyUsage].join(', ') || '<none>');
    row('CA', String(c.isCA));
    row('Public key', c.publicKey);
    row('Serial', c.serial);
  });
  lines.push(
    `Chain: ${r.chain.status}${r.chain.root ? ` (root ${r.chain.root})` : ''}: ${r.chain.message}`,
  );
  return `${lines.join('\n')}\n`;
}
