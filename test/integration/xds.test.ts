/**
 * Delta ADS end to end: the control plane's DeltaAdsService and the node
 * proxy's DeltaXdsClient over real gRPC on loopback (TLS where auth matters).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { MonitoringServer } from '../../src/controlplane/monitoring.js';
import {
  configDump,
  DeltaAdsService,
  ResourceCache,
  type ResourceUpsert,
  tokenAuthenticator,
  XdsMetrics,
} from '../../src/controlplane/xds/index.js';
import {
  AggregatedDiscoveryService,
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
} from '../../src/gen/envoy/discovery/discovery_pb.js';
import { AuthorizationSchema } from '../../src/gen/istio/security/authorization_pb.js';
import { AddressSchema, WorkloadSchema } from '../../src/gen/istio/workload/workload_pb.js';
import { grpcService } from '../../src/grpc/service.js';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  DeltaXdsClient,
  type DeltaXdsClientOptions,
  formatNodeId,
  type XdsUpdate,
} from '../../src/xds/index.js';

const A = ADDRESS_TYPE_URL;
const Z = AUTHORIZATION_TYPE_URL;
const TOKEN = 'ztunnel-token-1';
const auth = tokenAuthenticator(
  new Map([
    [TOKEN, { identity: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel', method: 'token' }],
  ]),
);

function workload(uid: string, ip: string, rev = ''): ResourceUpsert {
  const w = create(WorkloadSchema, {
    uid,
    name: uid,
    namespace: 'shop',
    canonicalRevision: rev,
    addresses: [Uint8Array.from(ip.split('.').map(Number))],
  });
  const msg = create(AddressSchema, { type: { case: 'workload', value: w } });
  return { message: anyPack(AddressSchema, msg), aliases: [`default/${ip}`] };
}

function policy(name: string): ResourceUpsert {
  return {
    message: anyPack(AuthorizationSchema, create(AuthorizationSchema, { name, namespace: 'shop' })),
  };
}

function seed(cache: ResourceCache, n = 5): void {
  const m = new Map<string, ResourceUpsert>();
  for (let i = 0; i < n; i++) m.set(`w${i}`, workload(`w${i}`, `10.0.0.${i + 1}`));
  cache.apply(A, { upserts: m });
  cache.apply(Z, { upserts: new Map([['shop/allow', policy('allow')]]) });
}

interface Tls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

function makeTls(t: TestContext): Tls {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-xds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=test-root',
  );
  ssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'srv.key',
    '-out',
    'srv.csr',
    '-subj',
    '/CN=istiod',
  );
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:istiod,IP:127.0.0.1\n');
  ssl(
    'x509',
    '-req',
    '-in',
    'srv.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'srv.pem',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
  );
  return {
    ca: readFileSync(join(dir, 'ca.pem')),
    cert: readFileSync(join(dir, 'srv.pem')),
    key: readFileSync(join(dir, 'srv.key')),
  };
}

interface Plane {
  cache: ResourceCache;
  service: DeltaAdsService;
  server: grpc.Server;
  registry: Registry;
  port: number;
}

async function startPlane(
  t: TestContext,
  opts: { cache?: ResourceCache; tls?: Tls; port?: number; maxResponseBytes?: number } = {},
): Promise<Plane> {
  const cache = opts.cache ?? new ResourceCache();
  const registry = new Registry();
  const service = new DeltaAdsService({
    cache,
    authenticate: auth,
    metrics: new XdsMetrics(registry),
    debounceMs: 20,
    ...(opts.maxResponseBytes ? { maxResponseBytes: opts.maxResponseBytes } : {}),
  });
  const server = new grpc.Server();
  service.addTo(server);
  const creds = opts.tls
    ? grpc.ServerCredentials.createSsl(
        null,
        [{ private_key: opts.tls.key, cert_chain: opts.tls.cert }],
        false,
      )
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, creds, (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  t.after(() => server.forceShutdown());
  return { cache, service, server, registry, port };
}

/** A handler that stores what it is given and records every update. */
class Store {
  readonly items = new Map<string, string>();
  readonly updates: XdsUpdate[] = [];
  reject = new Set<string>();
  constructor(readonly typeUrl: string) {}
  apply(u: XdsUpdate) {
    this.updates.push(u);
    const errors = [];
    for (const r of u.upserts) {
      if (this.reject.has(r.name))
        errors.push({ name: r.name, message: `cannot convert ${r.name}` });
      else this.items.set(r.name, r.version);
    }
    for (const n of u.removals) this.items.delete(n);
    return { errors };
  }
  names(): string[] {
    return [...this.items.keys()].sort();
  }
  /** Names carried by updates after index `from`. */
  since(from: number) {
    const up = this.updates.slice(from);
    return {
      upserts: up.flatMap((u) => u.upserts.map((r) => r.name)).sort(),
      removals: up.flatMap((u) => u.removals).sort(),
    };
  }
}

let podSeq = 0;
function client(
  t: TestContext,
  port: number,
  over: Partial<DeltaXdsClientOptions> & { stores?: Store[] } = {},
) {
  const stores = over.stores ?? [new Store(A), new Store(Z)];
  const c = new DeltaXdsClient({
    address: `127.0.0.1:${port}`,
    node: {
      id: formatNodeId({
        type: 'ztunnel',
        ip: '10.9.0.1',
        podName: `ztunnel-${++podSeq}`,
        namespace: 'istio-system',
      }),
      metadata: { NAME: `ztunnel-${podSeq}`, NAMESPACE: 'istio-system', NODE_NAME: 'node-a' },
    },
    handlers: stores.map((s) => ({ typeUrl: s.typeUrl, apply: (u: XdsUpdate) => s.apply(u) })),
    plaintext: true,
    token: () => TOKEN,
    backoff: { initialMs: 30, maxMs: 200 },
    keepaliveMs: 0,
    ...over,
  });
  t.after(() => c.close());
  c.start();
  return { c, stores, a: stores[0] as Store, z: stores[1] as Store };
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values as { value: number }[] | undefined)?.reduce((s, v) => s + v.value, 0) ?? 0;
}

describe('delta ADS', () => {
  test('wildcard subscribe gets everything, then only the changed resource, and removals', async (t) => {
    const p = await startPlane(t);
    seed(p.cache);
    const { c, a, z } = client(t, p.port);
    await c.synced;
    assert.deepEqual(a.names(), ['w0', 'w1', 'w2', 'w3', 'w4']);
    assert.deepEqual(z.names(), ['shop/allow']);

    const mark = a.updates.length;
    p.cache.apply(A, { upserts: new Map([['w2', workload('w2', '10.0.0.3', 'v2')]]) });
    p.cache.apply(A, { upserts: new Map([['w3', workload('w3', '10.0.0.4')]]) }); // identical: no push
    await until('the change', () => a.updates.length > mark);
    assert.deepEqual(a.since(mark), { upserts: ['w2'], removals: [] });
    assert.equal(a.items.get('w2'), p.cache.get(A, 'w2')?.version);

    const mark2 = a.updates.length;
    p.cache.apply(A, { removals: ['w4'] });
    await until('the removal', () => a.updates.length > mark2);
    assert.deepEqual(a.since(mark2), { upserts: [], removals: ['w4'] });
    assert.deepEqual(a.names(), ['w0', 'w1', 'w2', 'w3']);

    const st = p.service.status().connections[0];
    assert.match(st?.node?.podName ?? '', /^ztunnel-\d+$/);
    assert.equal(st?.metadata.NODE_NAME, 'node-a');
    assert.equal(st?.types[A]?.wildcard, true);
    await until(
      'ACK recorded',
      () => p.service.status().connections[0]?.types[A]?.state === 'ACKED',
    );
    assert.ok((await metric(p.registry, 'pilot_xds_pushes')) >= 4);
    assert.equal(await metric(p.registry, 'pilot_xds'), 1);
  });

  test('on-demand: subscribe and unsubscribe by name and by alias', async (t) => {
    const p = await startPlane(t);
    seed(p.cache);
    const { c, a } = client(t, p.port, { onDemand: true });
    await c.synced; // the opening "subscribe nothing" is answered with an empty response
    assert.deepEqual(a.names(), []);

    c.subscribe(A, ['w1', 'default/10.0.0.3', 'default/10.9.9.9']);
    await until('on-demand resources', () => a.names().length === 2);
    assert.deepEqual(a.names(), ['w1', 'w2']);
    assert.ok(
      a.updates.some((u) => u.removals.includes('default/10.9.9.9')),
      'unknown names come back removed',
    );

    c.unsubscribe(A, ['default/10.0.0.3']);
    await until(
      'server saw unsubscribe',
      () => p.service.status().connections[0]?.types[A]?.names.length === 2,
    );
    const mark = a.updates.length;
    p.cache.apply(A, {
      upserts: new Map([
        ['w2', workload('w2', '10.0.0.3', 'v2')],
        ['w1', workload('w1', '10.0.0.2', 'v2')],
        ['w0', workload('w0', '10.0.0.1', 'v2')],
      ]),
    });
    await until('the change', () => a.updates.length > mark);
    assert.deepEqual(a.since(mark), { upserts: ['w1'], removals: [] });

    // A workload appearing under a subscribed alias is pushed.
    const mark2 = a.updates.length;
    p.cache.apply(A, { upserts: new Map([['w9', workload('w9', '10.9.9.9')]]) });
    await until('alias hit', () => a.updates.length > mark2);
    assert.deepEqual(a.since(mark2), { upserts: ['w9'], removals: [] });
  });

  test('NACK: error kept and visible, others served, a later good version is ACKed', async (t) => {
    const p = await startPlane(t);
    seed(p.cache);
    const bad = new Store(A);
    bad.reject.add('w3');
    const one = client(t, p.port, { stores: [bad, new Store(Z)] });
    const two = client(t, p.port);
    await Promise.all([one.c.synced, two.c.synced]);
    assert.deepEqual(bad.names(), ['w0', 'w1', 'w2', 'w4'], 'the good resources are applied');
    assert.deepEqual(two.a.names(), ['w0', 'w1', 'w2', 'w3', 'w4']);

    await until('NACK recorded', () => p.service.status().nacks === 1);
    const st = p.service.status().connections.find((x) => x.types[A]?.state === 'NACKED');
    assert.match(st?.types[A]?.lastNack?.message ?? '', /w3: cannot convert w3/);
    assert.equal(st?.types[A]?.nacks, 1);
    assert.equal(await metric(p.registry, 'pilot_total_xds_rejects'), 1);
    assert.match(one.c.state().types[A]?.lastNack?.message ?? '', /w3/);
    assert.equal(one.c.versions(A).has('w3'), false, 'a rejected resource is not recorded as held');

    bad.reject.clear();
    p.cache.apply(A, { upserts: new Map([['w3', workload('w3', '10.0.0.4', 'fixed')]]) });
    await until('fixed version applied', () => bad.items.has('w3'));
    await until('ACKed', () =>
      p.service.status().connections.every((x) => x.types[A]?.state === 'ACKED'),
    );
    assert.equal(p.service.status().nacks, 1);
  });

  test('a client that disconnects mid-push is cleaned up', async (t) => {
    const p = await startPlane(t, { maxResponseBytes: 2048 });
    const m = new Map<string, ResourceUpsert>();
    for (let i = 0; i < 3000; i++) m.set(`w${i}`, workload(`w${i}`, `10.${i >> 8}.${i & 255}.1`));
    p.cache.apply(A, { upserts: m });
    const raw = rawStream(p.port);
    raw.call.write(
      create(DeltaDiscoveryRequestSchema, {
        typeUrl: A,
        node: { id: 'ztunnel~1.1.1.1~z.ns~ns.svc.cluster.local' },
      }),
    );
    await until('first chunk', () => raw.responses.length > 0);
    assert.equal(p.service.connectionCount, 1);
    raw.call.cancel(); // never ACKs, leaves while the server still has chunks to send
    raw.client.close();
    await until('server forgot the client', () => p.service.connectionCount === 0);
    assert.equal(await metric(p.registry, 'pilot_xds'), 0);
    assert.deepEqual(p.service.status().connections, []);
    // The server keeps serving others.
    const { c, a } = client(t, p.port);
    await c.synced;
    assert.equal(a.items.size, 3000);
  });

  test('reconnect with initial_resource_versions: a full resync sends nothing the client has', async (t) => {
    const p = await startPlane(t);
    seed(p.cache);
    const have: Record<string, string> = {};
    for (let i = 0; i < 5; i++) have[`w${i}`] = p.cache.get(A, `w${i}`)?.version ?? '';
    have.w1 = 'old';
    have.gone = 'x';
    const raw = rawStream(p.port);
    raw.call.write(
      create(DeltaDiscoveryRequestSchema, {
        typeUrl: A,
        node: { id: 'ztunnel~1.1.1.1~z.ns~ns.svc.cluster.local' },
        initialResourceVersions: have,
      }),
    );
    await until('response', () => raw.responses.length > 0);
    const r = raw.responses[0] as DeltaDiscoveryResponse;
    assert.deepEqual(
      r.resources.map((x) => x.name),
      ['w1'],
    );
    assert.deepEqual(r.removedResources, ['gone']);
    raw.call.end();
    raw.client.close();
  });

  test('control-plane restart: the client keeps its config and resyncs only the diff', async (t) => {
    const cache = new ResourceCache();
    seed(cache);
    const p1 = await startPlane(t, { cache });
    const { c, a } = client(t, p1.port);
    await c.synced;
    await until('ACKed', () => p1.service.status().connections[0]?.types[A]?.state === 'ACKED');
    p1.server.forceShutdown();
    await until('client noticed', () => !c.state().connected && c.state().lastError !== undefined);
    assert.deepEqual(a.names(), ['w0', 'w1', 'w2', 'w3', 'w4'], 'last config kept while down');

    cache.apply(A, {
      upserts: new Map([
        ['w1', workload('w1', '10.0.0.2', 'v2')],
        ['w7', workload('w7', '10.0.0.8')],
      ]),
    });
    cache.apply(A, { removals: ['w0'] });
    const mark = a.updates.length;
    const p2 = await startPlane(t, { cache, port: p1.port });
    await until('resynced', () => a.items.has('w7') && !a.items.has('w0'));
    assert.deepEqual(a.since(mark), { upserts: ['w1', 'w7'], removals: ['w0'] });
    assert.ok(c.state().connected);
    assert.equal(p2.service.connectionCount, 1);
  });

  test('TLS + bearer token: unauthenticated clients are rejected, a good token is served', async (t) => {
    const tls = makeTls(t);
    const p = await startPlane(t, { tls });
    seed(p.cache);
    const tlsOpts = { rootCerts: tls.ca, serverName: 'istiod' };
    const wrong = client(t, p.port, { plaintext: false, tls: tlsOpts, token: () => 'nope' });
    const none = client(t, p.port, { plaintext: false, tls: tlsOpts, token: () => undefined });
    await until('rejections', () =>
      [wrong, none].every((x) =>
        (x.c.state().lastError ?? '').includes('AMBIT_XDS_UNAUTHENTICATED'),
      ),
    );
    assert.equal(wrong.a.items.size, 0);
    assert.equal(p.service.connectionCount, 0);
    assert.ok((await metric(p.registry, 'ambit_xds_auth_failures_total')) >= 2);

    const good = client(t, p.port, { plaintext: false, tls: tlsOpts });
    await good.c.synced;
    assert.equal(good.a.items.size, 5);
    assert.equal(
      p.service.status().connections[0]?.caller,
      'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
    );
  });

  test('monitoring: /metrics and /ready open, /debug/* require a token', async (t) => {
    const p = await startPlane(t);
    seed(p.cache);
    const { c } = client(t, p.port);
    await c.synced;
    const mon = new MonitoringServer({
      registry: p.registry,
      authenticate: auth,
      port: 0,
      debug: {
        connections: () => p.service.status(),
        configDump: (q) => configDump(p.cache, q),
      },
    });
    await mon.listen();
    t.after(() => mon.close());
    const base = `http://127.0.0.1:${mon.port}`;
    const bearer = { authorization: `Bearer ${TOKEN}` };
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /pilot_xds 1/);
    for (const path of ['/debug/connections', '/debug/config_dump']) {
      const r = await fetch(base + path);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      assert.equal(
        (await fetch(base + path, { headers: { authorization: 'Bearer wrong' } })).status,
        401,
      );
    }
    const conns = (await (
      await fetch(`${base}/debug/connections`, { headers: bearer })
    ).json()) as {
      connections: { nodeId: string }[];
    };
    assert.equal(conns.connections.length, 1);
    assert.match(conns.connections[0]?.nodeId ?? '', /^ztunnel~10\.9\.0\.1~/);
    const one = (await (
      await fetch(`${base}/debug/config_dump?type=wds&name=w1`, { headers: bearer })
    ).json()) as {
      resource: { name: string; resource: { workload: { uid: string } } };
    };
    assert.equal(one.resource.name, 'w1');
    assert.equal(one.resource.resource.workload.uid, 'w1');
    assert.equal(
      (await fetch(`${base}/debug/config_dump?name=nope`, { headers: bearer })).status,
      404,
    );
  });

  test('drain: streams end, new streams are refused, clients keep their config', async (t) => {
    const p = await startPlane(t);
    seed(p.cache);
    const { c, a } = client(t, p.port);
    await c.synced;
    await p.service.drainTask().graceful();
    assert.equal(p.service.connectionCount, 0);
    await until('client retried and was refused', () =>
      (c.state().lastError ?? '').includes('DRAINING'),
    );
    assert.equal(a.items.size, 5);
  });
});

function rawStream(port: number) {
  const def = grpcService(AggregatedDiscoveryService).deltaAggregatedResources;
  const cl = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  const call = cl.makeBidiStreamRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
    def.path,
    (m) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, m)),
    (b) => fromBinary(DeltaDiscoveryResponseSchema, b),
    md,
  );
  const responses: DeltaDiscoveryResponse[] = [];
  call.on('data', (r: DeltaDiscoveryResponse) => responses.push(r));
  call.on('error', () => {});
  return { client: cl, call, responses };
}
