/**
 * Many proxies on one control plane: 200 in-process delta ADS clients (each
 * with its own HTTP/2 connection) all receive and ACK one change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import {
  type AckEvent,
  DeltaAdsService,
  ResourceCache,
  type ResourceUpsert,
  tokenAuthenticator,
  XdsMetrics,
} from '../../src/controlplane/xds/index.js';
import { AddressSchema, WorkloadSchema } from '../../src/gen/istio/workload/workload_pb.js';
import { ADDRESS_TYPE_URL, DeltaXdsClient, formatNodeId } from '../../src/xds/index.js';

const N = 200;

function workload(uid: string, rev: string): ResourceUpsert {
  const w = create(WorkloadSchema, { uid, name: uid, namespace: 'ns', canonicalRevision: rev });
  return {
    message: anyPack(
      AddressSchema,
      create(AddressSchema, { type: { case: 'workload', value: w } }),
    ),
  };
}

test(`${N} clients all ACK a change`, async (t) => {
  const cache = new ResourceCache();
  const seed = new Map<string, ResourceUpsert>();
  for (let i = 0; i < 100; i++) seed.set(`w${i}`, workload(`w${i}`, 'v1'));
  cache.apply(ADDRESS_TYPE_URL, { upserts: seed });
  const service = new DeltaAdsService({
    cache,
    authenticate: tokenAuthenticator(new Map([['t', { identity: 'ztunnel', method: 'token' }]])),
    metrics: new XdsMetrics(new Registry()),
    debounceMs: 10,
  });
  const server = new grpc.Server();
  service.addTo(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  t.after(() => server.forceShutdown());

  const held: Map<string, string>[] = [];
  const clients: DeltaXdsClient[] = [];
  for (let i = 0; i < N; i++) {
    const mine = new Map<string, string>();
    held.push(mine);
    const c = new DeltaXdsClient({
      address: `127.0.0.1:${port}`,
      node: {
        id: formatNodeId({
          type: 'ztunnel',
          ip: `10.1.${i >> 8}.${i & 255}`,
          podName: `zt-${i}`,
          namespace: 'istio-system',
        }),
      },
      handlers: [
        {
          typeUrl: ADDRESS_TYPE_URL,
          apply: (u) => {
            for (const r of u.upserts) mine.set(r.name, r.version);
            for (const n of u.removals) mine.delete(n);
            return undefined;
          },
        },
      ],
      plaintext: true,
      token: () => 't',
      keepaliveMs: 0,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    t.after(() => c.close());
    clients.push(c);
    c.start();
  }
  await Promise.all(clients.map((c) => c.synced));
  assert.equal(service.connectionCount, N);
  assert.ok(held.every((m) => m.size === 100));

  const acked = new Set<string>();
  const off = service.onAckEvent((e: AckEvent) => {
    if (!e.nack && e.changeAt !== undefined) acked.add(e.connection.id);
  });
  t.after(off);
  cache.apply(ADDRESS_TYPE_URL, { upserts: new Map([['w7', workload('w7', 'v2')]]) });
  const version = cache.get(ADDRESS_TYPE_URL, 'w7')?.version;
  const end = Date.now() + 30_000;
  while (acked.size < N && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(acked.size, N, 'every client ACKed the change');
  assert.ok(held.every((m) => m.get('w7') === version));
  assert.equal(service.status().nacks, 0);
});
