/**
 * Control-plane benchmark (not a test): `npm run bench:controlplane -- [flags]`.
 *
 *  1. Push latency: N real delta-xDS gRPC clients (DeltaXdsClient, one HTTP/2
 *     connection each) spread over K child processes, all wildcard-subscribed
 *     to P workloads. One workload changes; we measure change → ACK at the
 *     server for every client, until all have ACKed (p50/p99/max), for R rounds.
 *  2. Memory: a fresh process holds W synthetic workloads in the xDS cache
 *     (with the gRPC server up); RSS and heap after GC.
 *
 * Flags: --clients 1000 --procs 4 --resources 1000 --rounds 5 --debounce 100
 *        --workloads 100000
 * Targets: p99 ≤ 1 s for 1000 clients; 100k workloads ≤ 1 GiB RSS.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { anyPack, anyUnpack } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import {
  DeltaAdsService,
  ResourceCache,
  type ResourceUpsert,
  tokenAuthenticator,
  XdsMetrics,
} from '../src/controlplane/xds/index.js';
import {
  AddressSchema,
  WorkloadSchema,
  WorkloadType,
} from '../src/gen/istio/workload/workload_pb.js';
import { logs } from '../src/telemetry/logger.js';
import { ADDRESS_TYPE_URL, DeltaXdsClient, formatNodeId } from '../src/xds/index.js';

const TOKEN = 'bench-token';
const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    clients: { type: 'string', default: '1000' },
    procs: { type: 'string', default: '4' },
    resources: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    debounce: { type: 'string', default: '100' },
    workloads: { type: 'string', default: '100000' },
    port: { type: 'string', default: '0' },
    first: { type: 'string', default: '0' },
  },
});
const num = (k: keyof typeof args) => Number(args[k]);

/** A workload shaped like the translator's output (≈250 bytes encoded). */
function workload(i: number, rev = 'v1'): ResourceUpsert {
  const ns = `ns-${i % 500}`;
  const name = `app-${i}-7d9c8b6f5-x${(i * 7919) % 100000}`;
  const ip = Uint8Array.of(10, (i >> 16) & 255, (i >> 8) & 255, i & 255);
  const w = create(WorkloadSchema, {
    uid: `Kubernetes//Pod/${ns}/${name}`,
    name,
    namespace: ns,
    addresses: [ip],
    network: '',
    tunnelProtocol: 1,
    serviceAccount: `sa-${i % 50}`,
    node: `node-${i % 1000}`,
    canonicalName: `app-${i % 2000}`,
    canonicalRevision: rev,
    workloadType: WorkloadType.POD,
    workloadName: `app-${i % 2000}`,
    clusterId: 'Kubernetes',
    services: {
      [`${ns}/app-${i % 2000}.${ns}.svc.cluster.local`]: {
        ports: [{ servicePort: 80, targetPort: 8080 }],
      },
    },
  });
  const msg = create(AddressSchema, { type: { case: 'workload', value: w } });
  return { message: anyPack(AddressSchema, msg), aliases: [`/10.${ip[1]}.${ip[2]}.${ip[3]}`] };
}

function workloads(from: number, n: number): Map<string, ResourceUpsert> {
  const m = new Map<string, ResourceUpsert>();
  for (let i = from; i < from + n; i++)
    m.set(`Kubernetes//Pod/ns-${i % 500}/app-${i}`, workload(i));
  return m;
}

async function startServer(cache: ResourceCache, debounceMs: number) {
  const service = new DeltaAdsService({
    cache,
    authenticate: tokenAuthenticator(new Map([[TOKEN, { identity: 'bench', method: 'token' }]])),
    metrics: new XdsMetrics(new Registry()),
    debounceMs,
  });
  const server = new grpc.Server();
  service.addTo(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { service, server, port };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const round1 = (x: number) => Math.round(x * 10) / 10;
const mib = (b: number) => round1(b / 1024 / 1024);

/** Child role: N clients, reports "synced" once all hold their first full config. */
async function clientRole(): Promise<void> {
  logs.setLevel('error');
  const n = num('clients');
  const first = num('first');
  const clients: DeltaXdsClient[] = [];
  for (let i = 0; i < n; i++) {
    const id = first + i;
    const held = new Map<string, string>();
    const c = new DeltaXdsClient({
      address: `127.0.0.1:${num('port')}`,
      node: {
        id: formatNodeId({
          type: 'ztunnel',
          ip: `10.200.${id >> 8}.${id & 255}`,
          podName: `zt-${id}`,
          namespace: 'istio-system',
        }),
        metadata: { NODE_NAME: `node-${id}` },
      },
      handlers: [
        {
          typeUrl: ADDRESS_TYPE_URL,
          apply: (u) => {
            // Convert like a real proxy would, then keep the version.
            for (const r of u.upserts)
              if (anyUnpack(r.resource, AddressSchema)) held.set(r.name, r.version);
            for (const name of u.removals) held.delete(name);
            return undefined;
          },
        },
      ],
      plaintext: true,
      token: () => TOKEN,
      keepaliveMs: 0,
    });
    clients.push(c);
    c.start();
    // Spread connection set-up a little so the accept queue never overflows.
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.all(clients.map((c) => c.synced));
  process.send?.({ synced: n });
  process.on('message', (m: { exit?: boolean }) => {
    if (m.exit) {
      for (const c of clients) c.close();
      process.exit(0);
    }
  });
}

/** Child role: a server holding W workloads; reports memory after GC. */
async function memoryRole(): Promise<void> {
  logs.setLevel('error');
  const w = num('workloads');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage();
  const cache = new ResourceCache();
  const { server } = await startServer(cache, 100);
  const t0 = performance.now();
  for (let i = 0; i < w; i += 10_000)
    cache.apply(ADDRESS_TYPE_URL, { upserts: workloads(i, Math.min(10_000, w - i)) });
  const loadMs = performance.now() - t0;
  gc?.();
  const m = process.memoryUsage();
  process.send?.({
    workloads: w,
    loadMs: Math.round(loadMs),
    cacheBytesMiB: mib(cache.bytes(ADDRESS_TYPE_URL)),
    rssMiB: mib(m.rss),
    heapUsedMiB: mib(m.heapUsed),
    externalMiB: mib(m.external + m.arrayBuffers),
    baselineRssMiB: mib(base.rss),
  });
  server.forceShutdown();
}

function waitMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  logs.setLevel('error');
  const n = num('clients');
  const procs = Math.max(1, Math.min(num('procs'), n));
  const debounceMs = num('debounce');
  const cache = new ResourceCache();
  cache.apply(ADDRESS_TYPE_URL, { upserts: workloads(0, num('resources')) });
  const { service, server, port } = await startServer(cache, debounceMs);

  const t0 = performance.now();
  const children: ChildProcess[] = [];
  const synced: Promise<unknown>[] = [];
  for (let k = 0; k < procs; k++) {
    const share = Math.floor(n / procs) + (k < n % procs ? 1 : 0);
    const first = k * Math.floor(n / procs) + Math.min(k, n % procs);
    const child = fork(process.argv[1] as string, [
      '--role',
      'client',
      '--clients',
      String(share),
      '--first',
      String(first),
      '--port',
      String(port),
    ]);
    children.push(child);
    synced.push(waitMessage(child));
  }
  await Promise.all(synced);
  const initialSyncMs = performance.now() - t0;
  if (service.connectionCount !== n)
    throw new Error(`expected ${n} connections, have ${service.connectionCount}`);

  const all: number[] = [];
  const perRound: { p50: number; p99: number; max: number }[] = [];
  for (let r = 0; r < num('rounds'); r++) {
    await new Promise((res) => setTimeout(res, 300));
    const lat: number[] = [];
    const seen = new Set<string>();
    let start = 0;
    const done = new Promise<void>((resolve) => {
      const off = service.onAckEvent((e) => {
        if (e.nack || e.sentAt < start || seen.has(e.connection.id)) return;
        seen.add(e.connection.id);
        lat.push(e.at - start);
        if (seen.size === n) {
          off();
          resolve();
        }
      });
    });
    start = performance.now();
    cache.apply(ADDRESS_TYPE_URL, {
      upserts: new Map([[`Kubernetes//Pod/ns-7/app-7`, workload(7, `r${r}`)]]),
    });
    await done;
    lat.sort((a, b) => a - b);
    all.push(...lat);
    perRound.push({
      p50: round1(pct(lat, 50)),
      p99: round1(pct(lat, 99)),
      max: round1(lat.at(-1) ?? 0),
    });
  }
  all.sort((a, b) => a - b);
  const serverRss = mib(process.memoryUsage().rss);
  for (const c of children) c.send({ exit: true });
  server.forceShutdown();

  const memChild = fork(
    process.argv[1] as string,
    ['--role', 'memory', '--workloads', args.workloads as string],
    {
      execArgv: [...process.execArgv, '--expose-gc'],
    },
  );
  const memory = await waitMessage<{ rssMiB: number; [k: string]: unknown }>(memChild);
  memChild.kill();

  const push = {
    p50Ms: round1(pct(all, 50)),
    p99Ms: round1(pct(all, 99)),
    maxMs: round1(all.at(-1) ?? 0),
    acks: all.length,
  };
  const result = {
    clients: n,
    clientProcs: procs,
    resourcesPerClient: num('resources'),
    debounceMs,
    rounds: num('rounds'),
    initialSyncMs: Math.round(initialSyncMs),
    pushToAck: push,
    perRound,
    serverRssWithClientsMiB: serverRss,
    memory,
    targets: { p99Ms: 1000, rssMiB: 1024 },
    pass: { p99: push.p99Ms <= 1000, rss: memory.rssMiB <= 1024 },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `controlplane: ${n} clients, change→ACK p50 ${push.p50Ms} ms p99 ${push.p99Ms} ms max ${push.maxMs} ms (debounce ${debounceMs} ms); ` +
      `${memory.workloads} workloads → RSS ${memory.rssMiB} MiB; initial sync ${result.initialSyncMs} ms`,
  );
}

const role = args.role;
const run = role === 'client' ? clientRole : role === 'memory' ? memoryRole : main;
run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
