/**
 * A whole `ambit controlplane` for integration tests: the shop manifests in a
 * temp dir, CA + node tokens in a temp state dir, gRPC and monitoring on
 * 127.0.0.1 port 0, pods on node-a / node-b through the runtime pod API.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { ChannelCredentials, Client, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { buildControlPlane, type ControlPlane } from '../../src/app/controlplane.js';
import { parseControlPlaneConfig } from '../../src/config/controlplane.js';
import {
  IstioCertificateRequestSchema,
  IstioCertificateService,
} from '../../src/gen/istio/ca/ca_pb.js';
import { grpcService } from '../../src/grpc/index.js';
import type { SpiffeId } from '../../src/identity/index.js';
import { createCsr } from '../../src/tls/index.js';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  DeltaXdsClient,
  formatNodeId,
  type XdsUpdate,
} from '../../src/xds/index.js';

export const SERVER_NAME = 'istiod.istio-system.svc';

interface After {
  after(fn: () => Promise<void> | void): void;
}

export interface Dirs {
  manifests: string;
  state: string;
}

export async function tempDirs(t: After): Promise<Dirs> {
  const root = await mkdtemp(join(tmpdir(), 'ambit-cp-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const manifests = join(root, 'manifests');
  await cp('test/fixtures/manifests/shop', manifests, { recursive: true });
  return { manifests, state: join(root, 'state') };
}

/**
 * Starts a control plane on `dirs` (port 0 unless given) and adds the test pods.
 * `run: false` leaves the config source unstarted (serving, nothing published yet).
 */
export async function startControlPlane(
  t: After,
  dirs: Dirs,
  port = 0,
  opts: { run?: boolean } = {},
): Promise<ControlPlane> {
  const config = parseControlPlaneConfig(
    {},
    {
      manifests: dirs.manifests,
      stateDir: dirs.state,
      port: String(port),
      listen: '127.0.0.1',
      monitoringPort: '0',
      debounce: '20ms',
    },
  );
  const plane = await buildControlPlane(config);
  t.after(() => plane.destroy());
  plane.store.upsertPod({
    name: 'frontend-0',
    namespace: 'shop',
    ip: '10.1.0.10',
    labels: { app: 'frontend', version: 'v1' },
    serviceAccount: 'frontend',
    node: 'node-a',
    deployment: 'frontend',
    ports: [{ name: 'http', containerPort: 8080 }],
  });
  plane.store.upsertPod({
    name: 'ratings-0',
    namespace: 'shop',
    ip: '10.1.0.20',
    labels: { app: 'ratings', version: 'v1' },
    serviceAccount: 'ratings',
    node: 'node-b',
    deployment: 'ratings',
    ports: [{ name: 'http', containerPort: 9080 }],
  });
  if (opts.run !== false) await plane.run();
  return plane;
}

export async function rootPem(dirs: Dirs): Promise<Buffer> {
  return readFile(join(dirs.state, 'ca', 'root-cert.pem'));
}

export type CaResult = { ok: true; chain: string[] } | { ok: false; code: status; details: string };

const caMethod = grpcService(IstioCertificateService).createCertificate;

/** One CreateCertificate call for `identity` with a bearer token. */
export async function requestCertificate(
  address: string,
  roots: Buffer,
  token: string,
  identity: SpiffeId,
): Promise<CaResult> {
  const { csrPem } = await createCsr(identity);
  const client = new Client(address, ChannelCredentials.createSsl(roots), {
    'grpc.ssl_target_name_override': SERVER_NAME,
  });
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  try {
    return await new Promise<CaResult>((resolve) => {
      client.makeUnaryRequest(
        caMethod.path,
        caMethod.requestSerialize,
        caMethod.responseDeserialize,
        create(IstioCertificateRequestSchema, { csr: csrPem, validityDuration: 3600n }),
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

/** What a client holds of one type: name → version. */
export class Held {
  readonly items = new Map<string, string>();
  constructor(readonly typeUrl: string) {}
  apply(u: XdsUpdate): undefined {
    for (const r of u.upserts) this.items.set(r.name, r.version);
    for (const n of u.removals) this.items.delete(n);
    return undefined;
  }
}

/** A ztunnel-like wildcard delta xDS client on `node`, authenticated with a node token. */
export function xdsClient(t: After, address: string, roots: Buffer, token: string, node: string) {
  const addresses = new Held(ADDRESS_TYPE_URL);
  const authorizations = new Held(AUTHORIZATION_TYPE_URL);
  const client = new DeltaXdsClient({
    address,
    node: {
      id: formatNodeId({
        type: 'ztunnel',
        ip: '10.9.0.1',
        podName: `ztunnel-${node}`,
        namespace: 'istio-system',
      }),
      metadata: { NODE_NAME: node },
    },
    handlers: [addresses, authorizations].map((h) => ({
      typeUrl: h.typeUrl,
      apply: (u: XdsUpdate) => h.apply(u),
    })),
    tls: { rootCerts: roots, serverName: SERVER_NAME },
    token: () => token,
    backoff: { initialMs: 50, maxMs: 200 },
    keepaliveMs: 0,
  });
  t.after(() => client.close());
  client.start();
  return { client, addresses, authorizations };
}

export async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** GET on the monitoring port; `token` adds a bearer token. */
export async function monitoringGet(
  plane: ControlPlane,
  path: string,
  token?: string,
): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${plane.addresses.monitoringPort}${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, body: await res.text() };
}
