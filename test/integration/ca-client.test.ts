import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { JsonObject } from '@bufbuild/protobuf';
import { create } from '@bufbuild/protobuf';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/controlplane/ca/index.js';
import { createControlPlaneGrpcServer } from '../../src/controlplane/index.js';
import { isAmbitError } from '../../src/core/errors.js';
import {
  type IstioCertificateRequest,
  type IstioCertificateResponse,
  IstioCertificateResponseSchema,
  IstioCertificateService,
} from '../../src/gen/istio/ca/ca_pb.js';
import { grpcService } from '../../src/grpc/index.js';
import { CaClient } from '../../src/identity/ca-client.js';
import { SecretManager, SpiffeId } from '../../src/identity/index.js';
import { createCsr, type WorkloadCertificate } from '../../src/tls/index.js';
import { CA_NAME, type CaFixture, DB, startCa, TD, WEB } from './ca-fixture.js';

const ZTUNNEL = SpiffeId.forWorkload(TD, 'istio-system', 'ztunnel');
const isCode = (code: string) => (e: unknown) => isAmbitError(e, code);

function client(
  t: { after(fn: () => void): void },
  fx: CaFixture,
  extra: Partial<ConstructorParameters<typeof CaClient>[0]> = {},
) {
  const c = new CaClient({
    address: fx.server.address,
    rootsPem: fx.rootsPem,
    serverName: CA_NAME,
    tokenFile: fx.tokenFile['node-a'],
    ownIdentity: ZTUNNEL,
    ...extra,
  });
  t.after(() => c.close());
  return c;
}

test('CaClient fetches a verified 24 h certificate for a workload on its node', async (t) => {
  const fx = await startCa(t);
  const cert = await client(t, fx).fetchCertificate(WEB);
  assert.equal(cert.identity.uri, WEB.uri);
  const hours = (cert.notAfter.getTime() - cert.notBefore.getTime()) / 3600_000;
  assert.ok(hours >= 24 && hours < 24.1, `default validity 24 h (+2 min skew), got ${hours}`);
  assert.match(cert.keyPem, /BEGIN PRIVATE KEY/);
  await assert.rejects(client(t, fx).fetchCertificate(DB), (e) => {
    assert.ok(isAmbitError(e, 'AMBIT_IDENTITY_CA_REJECTED'));
    assert.match(e.message, /PERMISSION_DENIED.*node "node-a"/);
    return true;
  });
});

test('CaClient verifies the CA under serverName (ALT_CA_HOSTNAME)', async (t) => {
  const fx = await startCa(t, { servingIp: false });
  const byIp = new CaClient({
    address: fx.server.address,
    rootsPem: fx.rootsPem,
    tokenFile: fx.tokenFile['node-a'],
  });
  t.after(() => byIp.close());
  await assert.rejects(byIp.fetchCertificate(WEB), isCode('AMBIT_IDENTITY_CA_UNAVAILABLE'));
  assert.equal((await client(t, fx).fetchCertificate(WEB)).identity.uri, WEB.uri);
  const foreign = CertificateAuthority.init(`${fx.dir}/foreign`, { trustDomain: TD });
  const wrongRoots = client(t, fx, { rootsPem: foreign.trustBundle().join('') });
  await assert.rejects(wrongRoots.fetchCertificate(WEB), isCode('AMBIT_IDENTITY_CA_UNAVAILABLE'));
});

test('CaClient re-reads the token file on each call', async (t) => {
  const fx = await startCa(t);
  const c = client(t, fx);
  await c.fetchCertificate(WEB);
  await fx.registry.issue('node-a', fx.tokenFile['node-a']); // rotate: old token is dead
  await c.fetchCertificate(WEB);
  await rm(fx.tokenFile['node-a']);
  await assert.rejects(c.fetchCertificate(WEB), isCode('AMBIT_IDENTITY_TOKEN_UNREADABLE'));
});

/** A CA server (real TLS) whose answers the test controls, recording each request. */
async function fakeCa(
  t: { after(fn: () => Promise<void>): void },
  answer: (req: IstioCertificateRequest, ca: CertificateAuthority) => Promise<string[]>,
) {
  const fx = await startCa(t);
  const seen: { metadata?: JsonObject; validity: bigint; authorization: string[] }[] = [];
  const serving = fx.ca.issueServingCertificate({ dnsNames: [CA_NAME] });
  const server = await createControlPlaneGrpcServer({
    host: '127.0.0.1',
    port: 0,
    credentials: {
      certChainPem: serving.chainPem.join(''),
      keyPem: serving.keyPem,
      rootsPem: fx.rootsPem,
    },
  });
  t.after(() => server.shutdown(1000));
  server.addService(grpcService(IstioCertificateService), {
    createCertificate: (
      call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
      cb: sendUnaryData<IstioCertificateResponse>,
    ) => {
      seen.push({
        ...(call.request.metadata ? { metadata: call.request.metadata } : {}),
        validity: call.request.validityDuration,
        authorization: call.metadata.get('authorization').map(String),
      });
      answer(call.request, fx.ca).then(
        (certChain) => cb(null, create(IstioCertificateResponseSchema, { certChain })),
        (err: Error) => cb(err, null),
      );
    },
  });
  return { fx: { ...fx, server }, seen };
}

test('CaClient sends token, validity and ImpersonatedIdentity only for other identities', async (t) => {
  const { fx, seen } = await fakeCa(t, async (req, ca) => {
    const imp = req.metadata?.ImpersonatedIdentity;
    const id = SpiffeId.parse(typeof imp === 'string' ? imp : ZTUNNEL.uri);
    return ca.sign(req.csr, { identity: id }).chainPem;
  });
  const c = client(t, fx, { validityMs: 3600_000, headers: { clusterid: 'Kubernetes' } });
  await c.fetchCertificate(WEB);
  await c.fetchCertificate(ZTUNNEL);
  const bearer = `Bearer ${(await readFile(fx.tokenFile['node-a'], 'utf8')).trim()}`;
  assert.deepEqual(seen, [
    { metadata: { ImpersonatedIdentity: WEB.uri }, validity: 3600n, authorization: [bearer] },
    { validity: 3600n, authorization: [bearer] },
  ]);
});

test('CaClient rejects a leaf for another identity', async (t) => {
  const { fx } = await fakeCa(
    t,
    async (_req, ca) => ca.sign((await createCsr(DB)).csrPem, { identity: DB }).chainPem,
  );
  await assert.rejects(client(t, fx).fetchCertificate(WEB), (e) => {
    assert.ok(isAmbitError(e, 'AMBIT_IDENTITY_CA_RESPONSE_INVALID'), String(e));
    assert.match(e.message, /shop\/sa\/db/);
    assert.ok(!/PRIVATE KEY/.test(e.message));
    return true;
  });
});

test('CaClient rejects a chain that does not lead to the mesh roots', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-foreign-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const foreign = CertificateAuthority.init(dir, { trustDomain: TD });
  const { fx } = await fakeCa(t, async (req) => foreign.sign(req.csr, { identity: WEB }).chainPem);
  await assert.rejects(client(t, fx).fetchCertificate(WEB), (e) => {
    assert.ok(isAmbitError(e, 'AMBIT_IDENTITY_CA_RESPONSE_INVALID'), String(e));
    assert.match(e.message, /trusted root/);
    return true;
  });
});

test('SecretManager over CaClient: track fetches, dump shows serial and no key', async (t) => {
  const fx = await startCa(t);
  const sm = new SecretManager<WorkloadCertificate>({ fetcher: client(t, fx) });
  t.after(() => sm.close());
  const updated = new Promise<void>((resolve) =>
    sm.onChange((e) => e.type === 'updated' && resolve()),
  );
  sm.track(WEB);
  await updated;
  const cert = await sm.fetch(WEB);
  const [row] = sm.dump();
  assert.equal(row?.identity, WEB.uri);
  assert.equal(row?.state, 'available');
  assert.match(row?.serial ?? '', /^[0-9A-F]+$/);
  const text = JSON.stringify(sm.dump());
  assert.ok(!text.includes('PRIVATE KEY') && !text.includes(cert.keyPem.split('\n')[1] as string));
});
