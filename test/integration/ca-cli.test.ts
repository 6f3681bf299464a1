/** `ambit ca …` as an operator runs it: the real CLI in a child process. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mustOpenssl, tempDir } from './pki-helpers.js';

const BIN = new URL('../../bin/ambit.js', import.meta.url).pathname;

function ambit(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('ca init refuses to overwrite without --force; issue writes a verifiable chain and a 0600 key', (t) => {
  const dir = tempDir(t);
  const caDir = join(dir, 'ca');
  const init = ambit('ca', 'init', '--dir', caDir, '--trust-domain', 'example.org');
  assert.equal(init.status, 0, init.stderr);
  assert.match(init.stdout, /trust domain example\.org/);
  assert.equal(statSync(join(caDir, 'ca-key.pem')).mode & 0o777, 0o600);

  const again = ambit('ca', 'init', '--dir', caDir);
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /\[AMBIT_CA_ALREADY_EXISTS\]/);
  assert.equal(
    ambit('ca', 'init', '--dir', caDir, '--force', '--trust-domain', 'example.org').status,
    0,
  );

  const out = join(dir, 'frontend');
  const id = 'spiffe://example.org/ns/shop/sa/frontend';
  const issue = ambit('ca', 'issue', '--dir', caDir, '--identity', id, '--out', out, '--ttl', '2h');
  assert.equal(issue.status, 0, issue.stderr);
  assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);
  assert.match(
    mustOpenssl(['verify', '-CAfile', join(out, 'root-cert.pem'), join(out, 'cert-chain.pem')]),
    /OK/,
  );
  const text = mustOpenssl(['x509', '-in', join(out, 'cert-chain.pem'), '-noout', '-text']);
  assert.match(text, /URI:spiffe:\/\/example\.org\/ns\/shop\/sa\/frontend/);
  mustOpenssl(['pkey', '-in', join(out, 'key.pem'), '-noout']);

  const foreign = ambit(
    'ca',
    'issue',
    '--dir',
    caDir,
    '--identity',
    'spiffe://cluster.local/ns/a/sa/b',
    '--out',
    join(dir, 'x'),
  );
  assert.match(foreign.stderr, /\[AMBIT_CA_IDENTITY_NOT_ALLOWED\]/);
  const tooLong = ambit(
    'ca',
    'issue',
    '--dir',
    caDir,
    '--identity',
    id,
    '--out',
    join(dir, 'y'),
    '--ttl',
    '91d',
  );
  assert.match(tooLong.stderr, /\[AMBIT_CA_TTL_TOO_LONG\]/);

  const inspect = ambit('ca', 'inspect', join(out, 'cert-chain.pem'), '-o', 'json');
  assert.equal(inspect.status, 0, inspect.stderr);
  const doc = JSON.parse(inspect.stdout) as {
    certificates: {
      identity: string;
      isCA: boolean;
      keyUsage: string[];
      extKeyUsage: string[];
      issuer: string;
    }[];
    chain: { status: string };
  };
  assert.equal(doc.certificates[0]?.identity, id);
  assert.equal(doc.certificates[0]?.isCA, false);
  assert.deepEqual(doc.certificates[0]?.keyUsage, ['digitalSignature', 'keyEncipherment']);
  assert.deepEqual(doc.certificates[0]?.extKeyUsage, ['serverAuth', 'clientAuth']);
  assert.equal(doc.certificates[0]?.issuer, 'O=example.org');
  assert.equal(doc.chain.status, 'verified');
  const table = ambit('ca', 'inspect', join(out, 'cert-chain.pem'));
  assert.match(table.stdout, /Identity:\s+spiffe:\/\/example\.org\/ns\/shop\/sa\/frontend/);
  assert.match(table.stdout, /Chain: verified/);

  // A root that did not issue the file: inspect says so and exits non-zero.
  const otherCa = join(dir, 'other');
  ambit('ca', 'init', '--dir', otherCa);
  const wrong = ambit(
    'ca',
    'inspect',
    join(out, 'cert-chain.pem'),
    '--root',
    join(otherCa, 'root-cert.pem'),
    '-o',
    'yaml',
  );
  assert.notEqual(wrong.status, 0);
  assert.match(wrong.stdout, /status: untrusted/);
});

test('ca rotate-root keeps old certificates verifiable, --finish drops the old root', (t) => {
  const dir = tempDir(t);
  const caDir = join(dir, 'ca');
  assert.equal(ambit('ca', 'init', '--dir', caDir).status, 0);
  const out = join(dir, 'old');
  assert.equal(
    ambit(
      'ca',
      'issue',
      '--dir',
      caDir,
      '--identity',
      'spiffe://cluster.local/ns/a/sa/old',
      '--out',
      out,
    ).status,
    0,
  );
  const rotate = ambit('ca', 'rotate-root', '--dir', caDir);
  assert.equal(rotate.status, 0, rotate.stderr);
  assert.match(rotate.stdout, /holds 2 roots/);
  const bundle = readFileSync(join(caDir, 'root-cert.pem'), 'utf8');
  assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 2);
  const check = (root: string): number =>
    ambit('ca', 'inspect', join(out, 'cert-chain.pem'), '--root', root).status;
  assert.equal(check(join(caDir, 'root-cert.pem')), 0, 'old cert verifies with the rotated bundle');
  const finish = ambit('ca', 'rotate-root', '--dir', caDir, '--finish');
  assert.equal(finish.status, 0, finish.stderr);
  assert.notEqual(check(join(caDir, 'root-cert.pem')), 0, 'after --finish the old root is gone');
});

test('ca demo: a CA, two identities, openssl verify and an mTLS handshake, exit 0', (t) => {
  const dir = tempDir(t);
  const r = ambit('ca', 'demo', '--dir', join(dir, 'demo'));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /frontend-?.*: OK/);
  assert.match(
    r.stdout,
    /frontend \(client\) connected with TLSv1\.3 .*peer SPIFFE ID = spiffe:\/\/cluster\.local\/ns\/shop\/sa\/catalog/,
  );
  assert.match(
    r.stdout,
    /catalog +\(server\) accepted .*peer SPIFFE ID = spiffe:\/\/cluster\.local\/ns\/shop\/sa\/frontend/,
  );
  assert.match(r.stdout, /ambit ca inspect /);
  assert.equal(statSync(join(dir, 'demo', 'frontend', 'key.pem')).mode & 0o777, 0o600);
  // Running it again on the same directory reuses the CA.
  const again = ambit('ca', 'demo', '--dir', join(dir, 'demo'));
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /using the existing CA/);
});

test('ca demo without --dir creates a fresh temporary CA and prints where it is', (t) => {
  const r = ambit('ca', 'demo');
  const dir = /created a CA in (\S+) /.exec(r.stdout)?.[1];
  if (dir) t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.ok(dir?.startsWith(tmpdir()), r.stdout);
  assert.ok(existsSync(join(dir as string, 'ca-key.pem')), 'the CA is kept');
});
