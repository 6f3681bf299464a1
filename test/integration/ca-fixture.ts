/**
 * A real CA service for integration tests: a CertificateAuthority in a temp
 * dir, the control-plane gRPC server over TLS on 127.0.0.1:0, node tokens for
 * node-a and node-b, and a workload table (web on node-a, db on node-b).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, type JsonObject } from '@bufbuild/protobuf';
import { ChannelCredentials, Client, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import {
  CertificateAuthority,
  CertificateService,
  type CertificateSigner,
  ChainAuthenticator,
  ClientCertificateAuthenticator,
  caGrpcService,
  NodeAuthorizer,
  NodeTokenAuthenticator,
  NodeTokenRegistry,
  WorkloadIdentityTable,
} from '../../src/controlplane/ca/index.js';
import {
  type ControlPlaneGrpcServer,
  createControlPlaneGrpcServer,
} from '../../src/controlplane/index.js';
import {
  IstioCertificateRequestSchema,
  IstioCertificateService,
} from '../../src/gen/istio/ca/ca_pb.js';
import { grpcService } from '../../src/grpc/index.js';
import { SpiffeId } from '../../src/identity/index.js';

export const TD = 'cluster.local';
export const WEB = SpiffeId.forWorkload(TD, 'shop', 'web');
export const DB = SpiffeId.forWorkload(TD, 'shop', 'db');
export const CA_NAME = 'istiod.istio-system.svc';

export interface CaFixture {
  dir: string;
  ca: CertificateAuthority;
  server: ControlPlaneGrpcServer;
  rootsPem: string;
  registry: NodeTokenRegistry;
  table: WorkloadIdentityTable;
  tokenFile: { 'node-a': string; 'node-b': string };
  tokens: { 'node-a': string; 'node-b': string };
}

export interface FixtureOptions {
  /** Wraps the authority, e.g. to tamper with answers. */
  signer?: (ca: CertificateAuthority) => CertificateSigner;
  /** Also put 127.0.0.1 in the serving certificate. Default true. */
  servingIp?: boolean;
}

export async function startCa(
  t: { after(fn: () => Promise<void>): void },
  opts: FixtureOptions = {},
): Promise<CaFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-ca-it-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = CertificateAuthority.init(join(dir, 'ca'), { trustDomain: TD });
  const rootsPem = ca.trustBundle().join('');
  const serving = ca.issueServingCertificate({
    dnsNames: [CA_NAME],
    ipAddresses: opts.servingIp === false ? [] : ['127.0.0.1'],
  });
  const server = await createControlPlaneGrpcServer({
    host: '127.0.0.1',
    port: 0,
    credentials: { certChainPem: serving.chainPem.join(''), keyPem: serving.keyPem, rootsPem },
  });
  t.after(() => server.shutdown(1000));
  const registry = await NodeTokenRegistry.open(join(dir, 'ca'));
  const tokenFile = {
    'node-a': join(dir, 'node-a', 'ca-token'),
    'node-b': join(dir, 'node-b', 'ca-token'),
  };
  const tokens = {
    'node-a': await registry.issue('node-a', tokenFile['node-a']),
    'node-b': await registry.issue('node-b', tokenFile['node-b']),
  };
  const table = new WorkloadIdentityTable();
  table.add('node-a', WEB.uri);
  table.add('node-b', DB.uri);
  const service = new CertificateService({
    authenticator: new ChainAuthenticator([
      new NodeTokenAuthenticator(registry),
      new ClientCertificateAuthenticator({
        roots: () => ca.roots,
        intermediates: () => ca.chainPem,
        trustDomain: TD,
      }),
    ]),
    authorizer: new NodeAuthorizer(table),
    signer: opts.signer ? opts.signer(ca) : ca,
  });
  const { definition, implementation } = caGrpcService(service);
  server.addService(definition, implementation);
  return { dir, ca, server, rootsPem, registry, table, tokenFile, tokens };
}

export interface RawRequest {
  csr: string;
  validitySeconds?: number;
  metadata?: JsonObject;
  token?: string;
  /** Client certificate chain + key for mTLS. */
  clientCert?: { certChainPem: string; keyPem: string };
}

export type RawResult =
  | { ok: true; chain: string[] }
  | { ok: false; code: status; details: string };

const method = grpcService(IstioCertificateService).createCertificate;

/** One CreateCertificate call on a fresh channel, returning the status instead of throwing. */
export async function rawCall(fx: CaFixture, r: RawRequest): Promise<RawResult> {
  const creds = r.clientCert
    ? ChannelCredentials.createSsl(
        Buffer.from(fx.rootsPem),
        Buffer.from(r.clientCert.keyPem),
        Buffer.from(r.clientCert.certChainPem),
      )
    : ChannelCredentials.createSsl(Buffer.from(fx.rootsPem));
  const client = new Client(fx.server.address, creds);
  const md = new Metadata();
  if (r.token !== undefined) md.set('authorization', `Bearer ${r.token}`);
  const req = create(IstioCertificateRequestSchema, {
    csr: r.csr,
    validityDuration: BigInt(r.validitySeconds ?? 3600),
    ...(r.metadata ? { metadata: r.metadata } : {}),
  });
  try {
    return await new Promise<RawResult>((resolve) => {
      client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        req,
        md,
        { deadline: Date.now() + 10_000 },
        (err: ServiceError | null, res) => {
          if (err || !res)
            resolve({ ok: false, code: err?.code ?? status.UNKNOWN, details: err?.details ?? '' });
          else resolve({ ok: true, chain: res.certChain });
        },
      );
    });
  } finally {
    client.close();
  }
}

export async function writeTemp(fx: CaFixture, name: string, text: string): Promise<string> {
  const p = join(fx.dir, name);
  await writeFile(p, text);
  return p;
}
