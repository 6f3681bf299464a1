/**
 * CA signing throughput: CSR → certificate with CertificateAuthority.sign()
 * on one core. CSRs are pre-generated (key generation is the workload's
 * cost, not the CA's); only sign() is timed. Prints one JSON object.
 *
 *   npm run bench:ca [-- --count 5000 --warmup 500]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../src/controlplane/ca/index.js';
import { SpiffeId } from '../src/identity/index.js';
import { createCsr } from '../src/tls/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? undefined : Number(process.argv[i + 1]);
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
}

const count = arg('count', 5000);
const warmup = arg('warmup', 500);
const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-ca-'));
try {
  const ca = CertificateAuthority.init(dir);
  const requests: { csrPem: string; identity: SpiffeId }[] = [];
  for (let i = 0; i < count + warmup; i++) {
    const identity = SpiffeId.forWorkload('cluster.local', `ns-${i % 50}`, `sa-${i}`);
    requests.push({ csrPem: (await createCsr(identity)).csrPem, identity });
  }
  for (const r of requests.slice(0, warmup)) ca.sign(r.csrPem, { identity: r.identity });
  const timed = requests.slice(warmup);
  const start = process.hrtime.bigint();
  for (const r of timed) ca.sign(r.csrPem, { identity: r.identity });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(
    JSON.stringify(
      {
        bench: 'ca-throughput',
        what: 'CertificateAuthority.sign(): CSR parse + signature check + issue (ECDSA P-256), one core',
        count: timed.length,
        seconds: Number(seconds.toFixed(3)),
        certsPerSecond: Math.round(timed.length / seconds),
        meanMicros: Number(((seconds / timed.length) * 1e6).toFixed(1)),
        node: process.version,
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
