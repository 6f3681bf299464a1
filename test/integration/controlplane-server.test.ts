import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, type PeerCertificate } from 'node:tls';
import { create } from '@bufbuild/protobuf';
import { ChannelCredentials, Client, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/controlplane/ca/index.js';
import { createControlPlaneGrpcServer } from '../../src/controlplane/index.js';
import { Drain } from '../../src/core/index.js';
import {
  IstioCertificateRequestSchema,
  IstioCertificateService,
} from '../../src/gen/istio/ca/ca_pb.js';
import { grpcService } from '../../src/grpc/index.js';

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-cp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = CertificateAuthority.init(dir, { trustDomain: 'cluster.local' });
  const rootsPem = ca.trustBundle().join('');
  const serving = () => {
    const s = ca.issueServingCertificate({ ipAddresses: ['127.0.0.1'] });
    return { certChainPem: s.chainPem.join(''), keyPem: s.keyPem, rootsPem };
  };
  return { ca, rootsPem, serving };
}

function servingSerial(port: number, rootsPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: rootsPem, ALPNProtocols: ['h2'] }, () => {
      const cert: PeerCertificate = s.getPeerCertificate();
      s.destroy();
      resolve(new X509Certificate(cert.raw).serialNumber);
    });
    s.on('error', reject);
  });
}

test('drain: a hung call is force-closed at the deadline, then the port is closed', async (t) => {
  const { rootsPem, serving } = await setup(t);
  const drain = new Drain();
  const server = await createControlPlaneGrpcServer({
    host: '127.0.0.1',
    port: 0,
    credentials: serving(),
    drain,
  });
  t.after(() => server.shutdown(100));
  let started!: () => void;
  const inHandler = new Promise<void>((r) => {
    started = r;
  });
  server.addService(grpcService(IstioCertificateService), {
    // Never answers: only a forced shutdown ends this call.
    createCertificate: () => started(),
  });
  const client = new Client(server.address, ChannelCredentials.createSsl(Buffer.from(rootsPem)));
  t.after(async () => client.close());
  const def = grpcService(IstioCertificateService).createCertificate;
  const call = new Promise<ServiceError | null>((resolve) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      create(IstioCertificateRequestSchema, {}),
      new Metadata(),
      (err: ServiceError | null) => resolve(err),
    );
  });
  await inHandler;
  const result = await drain.drain(200);
  assert.deepEqual(result.forced, ['controlplane-grpc']);
  const err = await call;
  assert.ok(err, 'the hung call ended with an error');
  assert.notEqual(err.code, status.OK);
  await assert.rejects(servingSerial(server.port, rootsPem));
});

test('updateCredentials: new connections get the new serving certificate', async (t) => {
  const { rootsPem, serving } = await setup(t);
  const first = serving();
  const server = await createControlPlaneGrpcServer({
    host: '127.0.0.1',
    port: 0,
    credentials: first,
  });
  t.after(() => server.shutdown(100));
  const before = await servingSerial(server.port, rootsPem);
  assert.equal(before, new X509Certificate(first.certChainPem).serialNumber);
  const second = serving();
  server.updateCredentials(second);
  await new Promise((r) => setImmediate(r));
  assert.equal(
    await servingSerial(server.port, rootsPem),
    new X509Certificate(second.certChainPem).serialNumber,
  );
});
