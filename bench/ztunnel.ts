// ztunnel benchmark (issue 3): two network namespaces joined by a veth, a
// ztunnel process in each (dedicated mode, nftables capture in the client
// namespace), vs direct and vs a stunnel pair, in one run:
//   - added p50/p90/p99 latency at 1000 RPS, 1 KiB responses, 4 keep-alive
//     connections (open loop, latency from the scheduled send time);
//   - single-stream bulk throughput with iperf3;
//   - new-connection latency (one connection per request, 100/s);
//   - CPU-seconds per 1000 requests per proxy (/proc/<pid>/stat) and RSS.
// Run as root:  node --import tsx bench/ztunnel.ts [--seconds 10] [--rounds 3]
//   --only latency,newconn,throughput   a subset (profiling; prints raw JSON)
//   --iperf-rounds N                    bulk rounds (2)
//   --entry dist                        run the ztunnels from `npm run build` output, not tsx
//   --ztunnel-node-args "--cpu-prof …"  extra node flags for both ztunnels
// Prints JSON and a table with ratios. Everything it creates is removed.
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../src/controlplane/ca/index.js';
import {
  applyNft,
  cleanupLedger,
  connectFrom,
  createNetns,
  createVeth,
  execIn,
  Ledger,
  spawnIn,
} from '../src/platform/index.js';
import { keepAliveLoad, newConnectionLoad } from './lib/load.js';

const A = '10.79.0.1';
const B = '10.79.0.2';
const MARK = 0x539;
const ROOT = new URL('..', import.meta.url).pathname;
const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? d : Number(process.argv[i + 1]);
};
const SECONDS = arg('seconds', 10);
const strArg = (name: string, d: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? d : (process.argv[i + 1] ?? d);
};
// `--only latency,newconn,throughput` runs a subset (profiling); default all.
const ONLY = new Set(strArg('only', 'latency,newconn,throughput').split(','));
// Extra node flags for both ztunnel processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
// `--entry dist` runs the compiled build (`npm run build`) instead of tsx.
// `--entry BUILD_DIR` (relative to the repo) runs another compiled build (A/B runs).
const ENTRY = strArg('entry', 'tsx');
const ZT_ENTRY =
  ENTRY === 'dist'
    ? 'dist/bin/ambit.js'
    : ENTRY === 'tsx'
      ? 'bin/ambit.js'
      : `${ENTRY}/bin/ambit.js`;
const ZT_NODE_ARGS = strArg('ztunnel-node-args', '')
  .split(' ')
  .filter((a) => a !== '');
const ROUNDS = arg('rounds', 3);
const REQUEST = 'GET / HTTP/1.1\r\nHost: app\r\n\r\n';
const CLOSE_REQUEST = 'GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 102.4) / 10;
}

function connected(netns: string, host: string, port: number, mark?: number) {
  return () =>
    new Promise<import('node:net').Socket>((resolve, reject) => {
      const s = connectFrom({ netns, host, port, mark });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
}

async function waitPort(netns: string, host: string, port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const s = await connected(netns, host, port, MARK)();
      s.destroy();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`${host}:${port} in ${netns} never came up`);
}

const BACKEND = `
const http = require('node:http');
const body = Buffer.alloc(1024, 'x');
for (const port of [8080, 8081]) http.createServer((q, r) => { r.setHeader('content-length', 1024); r.end(body); }).listen(port, '${B}');
`;

async function main(): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('run as root (network namespaces, nftables)');
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-zt-'));
  const ledger = Ledger.create({ dir: join(dir, 'ledger'), runId: 'bench' });
  const procs: ChildProcess[] = [];
  // Ctrl-C still removes the namespaces and processes.
  const onSignal = (): void => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    void cleanupLedger(ledger).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const id = process.pid.toString(36);
    const nsA = `ambit-bzt${id}-a`;
    const nsB = `ambit-bzt${id}-b`;
    await createNetns(ledger, nsA);
    await createNetns(ledger, nsB);
    await createVeth(ledger, {
      name: 'eth0',
      netns: nsA,
      address: `${A}/24`,
      peer: 'eth0',
      peerNetns: nsB,
      peerAddress: `${B}/24`,
    });
    // Mesh arm: app ports 5201 (iperf3) and 8080 (HTTP) are captured to 15001.
    await applyNft(
      ledger,
      nsA,
      `table inet ambit-bench { chain out { type nat hook output priority -100;
  meta mark ${MARK} return
  ip daddr ${B} tcp dport { 5201, 8080 } redirect to :15001
  }
}`,
    );
    const ca = CertificateAuthority.init(join(dir, 'ca'));
    writeFileSync(
      join(dir, 'mesh.yaml'),
      `workloads:
- {name: client, namespace: bench, serviceAccount: client, workloadIps: ["${A}"], protocol: HBONE}
- {name: server, namespace: bench, serviceAccount: server, workloadIps: ["${B}"], protocol: HBONE}
`,
    );
    const spawn = (ns: string, cmd: string, args: string[]): ChildProcess => {
      const c = spawnIn(ledger, ns, cmd, args, { stdio: 'ignore' });
      procs.push(c);
      return c;
    };
    spawn(nsB, process.execPath, ['-e', BACKEND]);
    spawn(nsB, 'iperf3', ['-s', '-B', B, '-p', '5201']);
    spawn(nsB, 'iperf3', ['-s', '-B', B, '-p', '5202']);
    const zt = (ns: string, workload: string) =>
      spawn(ns, process.execPath, [
        ...ZT_NODE_ARGS,
        join(ROOT, ZT_ENTRY),
        'ztunnel',
        '--mode=dedicated',
        `--workload=${workload}`,
        `--local-config=${join(dir, 'mesh.yaml')}`,
        `--ca-dir=${join(dir, 'ca')}`,
      ]);
    const zA = zt(nsA, 'bench/client/client');
    const zB = zt(nsB, 'bench/server/server');
    // stunnel pair (the L4 mTLS peer): 127.0.0.1:6000 → iperf3 5202, :6001 → HTTP 8081.
    for (const [who, ns] of [
      ['client', nsA],
      ['server', nsB],
    ] as const) {
      execFileSync(process.execPath, [
        join(ROOT, 'bin/ambit.js'),
        'ca',
        'issue',
        '--dir',
        join(dir, 'ca'),
        '--identity',
        `spiffe://${ca.trustDomain}/ns/bench/sa/${who}`,
        '--out',
        join(dir, who),
      ]);
      const tls = `cert = ${join(dir, who, 'cert-chain.pem')}\nkey = ${join(dir, who, 'key.pem')}\nCAfile = ${join(dir, who, 'root-cert.pem')}\nverifyChain = yes\nsslVersion = TLSv1.3\n`;
      const conf =
        who === 'client'
          ? `foreground = yes\npid =\n${tls}[iperf]\nclient = yes\naccept = 127.0.0.1:6000\nconnect = ${B}:6443\n[http]\nclient = yes\naccept = 127.0.0.1:6001\nconnect = ${B}:6444\n`
          : `foreground = yes\npid =\n${tls}requireCert = yes\n[iperf]\naccept = ${B}:6443\nconnect = ${B}:5202\n[http]\naccept = ${B}:6444\nconnect = ${B}:8081\n`;
      writeFileSync(join(dir, `stunnel-${who}.conf`), conf);
      spawn(ns, 'stunnel4', [join(dir, `stunnel-${who}.conf`)]);
    }
    const [sA, sB] = procs.slice(-2) as [ChildProcess, ChildProcess];
    // The Node floor: a bare HTTP/2 CONNECT pair (bench/lib/node-h2-pair.mjs)
    // on the same certificates, 127.0.0.1:6002 → B:6445 → HTTP 8081.
    const pair = new URL('./lib/node-h2-pair.mjs', import.meta.url).pathname;
    const floorPair = (
      listenA: string,
      listenB: string,
      app: string,
    ): [ChildProcess, ChildProcess] => [
      spawn(nsA, process.execPath, [pair, 'client', listenA, listenB, join(dir, 'client')]),
      spawn(nsB, process.execPath, [pair, 'server', listenB, app, join(dir, 'server')]),
    ];
    const [hA, hB] = floorPair('127.0.0.1:6002', `${B}:6445`, `${B}:8081`);
    // A second pair for bulk: 127.0.0.1:6003 → B:6446 → iperf3 5202.
    const bulkFloor = floorPair('127.0.0.1:6003', `${B}:6446`, `${B}:5202`);
    await waitPort(nsB, B, 8080);
    await waitPort(nsB, B, 15008);
    await waitPort(nsA, '127.0.0.1', 15001);
    await waitPort(nsA, '127.0.0.1', 6001);
    await waitPort(nsA, '127.0.0.1', 6002);
    // Not the bulk pair's client port: a probe there would open a stream and an
    // iperf3 control connection the server then refuses others for.
    await waitPort(nsB, B, 6446);
    await sleep(500);

    const arms = {
      direct: { connect: connected(nsA, B, 8081, MARK), pids: [] as number[] },
      ztunnel: { connect: connected(nsA, B, 8080), pids: [zA.pid, zB.pid] as number[] },
      stunnel: {
        connect: connected(nsA, '127.0.0.1', 6001, MARK),
        pids: [sA.pid, sB.pid] as number[],
      },
      'node-h2': {
        connect: connected(nsA, '127.0.0.1', 6002, MARK),
        pids: [hA.pid, hB.pid] as number[],
      },
    };
    type Arm = keyof typeof arms;
    const latency: Record<Arm, unknown[]> = { direct: [], ztunnel: [], stunnel: [], 'node-h2': [] };
    const cpuPer1000: Record<Arm, number[]> = {
      direct: [],
      ztunnel: [],
      stunnel: [],
      'node-h2': [],
    };
    const rss: Record<string, number> = {
      ztunnelIdleClient: rssMb(zA.pid as number),
      ztunnelIdleServer: rssMb(zB.pid as number),
    };
    // Warm up the ztunnel path (certificates, pooled HBONE session) and the floor pair.
    for (const warm of [arms.ztunnel, arms['node-h2']])
      await keepAliveLoad(warm.connect, {
        rps: 200,
        connections: 4,
        durationMs: 1000,
        warmupMs: 1000,
        request: REQUEST,
      });
    for (let r = 0; ONLY.has('latency') && r < ROUNDS; r++) {
      for (const arm of Object.keys(arms) as Arm[]) {
        const a = arms[arm];
        const before = a.pids.map(cpuSeconds);
        const res = await keepAliveLoad(a.connect, {
          rps: 1000,
          connections: 4,
          durationMs: SECONDS * 1000,
          warmupMs: 1000,
          request: REQUEST,
        });
        const used = a.pids.map((p, i) => cpuSeconds(p) - (before[i] ?? 0));
        latency[arm].push(res.latency);
        // Per proxy: both hops' CPU divided by two.
        if (used.length > 0)
          cpuPer1000[arm].push(
            (used.reduce((x, y) => x + y, 0) / used.length / res.completed) * 1000,
          );
        process.stderr.write(`round ${r} ${arm}: ${JSON.stringify(res.latency)}\n`);
        if (arm === 'ztunnel') {
          // RSS right after a loaded round (the "RSS under load").
          rss.ztunnelLoadClient = Math.max(rss.ztunnelLoadClient ?? 0, rssMb(zA.pid as number));
          rss.ztunnelLoadServer = Math.max(rss.ztunnelLoadServer ?? 0, rssMb(zB.pid as number));
        }
      }
    }

    const newConn: Record<string, unknown> = {};
    for (const arm of ONLY.has('newconn') ? (Object.keys(arms) as Arm[]) : []) {
      const res = await newConnectionLoad(arms[arm].connect, {
        rps: 100,
        durationMs: 5000,
        warmupMs: 500,
        request: CLOSE_REQUEST,
      });
      newConn[arm] = res;
      process.stderr.write(`new connections ${arm}: ${JSON.stringify(res)}\n`);
    }

    // Only ports 5201/8080 are captured, so the direct and stunnel arms bypass ztunnel.
    const iperf = async (host: string, port: number): Promise<number> => {
      const args = ['-c', host, '-p', String(port), '-t', '5', '-J'];
      const { stdout } = await execIn(nsA, 'iperf3', args);
      const j = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
      return Math.round(j.end.sum_received.bits_per_second / 1e7) / 100;
    };
    const gbps: Record<string, number[]> = { direct: [], ztunnel: [], stunnel: [], 'node-h2': [] };
    // CPU-seconds per GB moved, per proxy (both hops divided by two).
    const cpuPerGb: Record<string, number[]> = {
      direct: [],
      ztunnel: [],
      stunnel: [],
      'node-h2': [],
    };
    const bulkPids = (arm: Arm): number[] =>
      arm === 'node-h2' ? bulkFloor.map((p) => p.pid as number) : arms[arm].pids;
    const iperfArm = async (arm: Arm, host: string, port: number): Promise<void> => {
      const pids = bulkPids(arm);
      const before = pids.map(cpuSeconds);
      // Marker for an external profiler (perf record -p …) to start on.
      process.stderr.write(`iperf ${arm} start\n`);
      const g = await iperf(host, port);
      const used = pids.map((p, i) => cpuSeconds(p) - (before[i] ?? 0));
      gbps[arm]?.push(g);
      if (used.length > 0)
        cpuPerGb[arm]?.push(used.reduce((x, y) => x + y, 0) / used.length / ((g * 5) / 8));
    };
    for (let r = 0; ONLY.has('throughput') && r < arg('iperf-rounds', 2); r++) {
      await iperfArm('direct', B, 5202);
      await iperfArm('ztunnel', B, 5201);
      await iperfArm('stunnel', '127.0.0.1', 6000);
      await iperfArm('node-h2', '127.0.0.1', 6003);
      process.stderr.write(`iperf round ${r}: ${JSON.stringify(gbps)}\n`);
    }
    rss.ztunnelClient = rssMb(zA.pid as number);
    rss.ztunnelServer = rssMb(zB.pid as number);
    rss.stunnel = rssMb(sA.pid as number);
    report({ latency, cpuPer1000, newConn, gbps, cpuPerGb, rss });
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    await sleep(300);
    await cleanupLedger(ledger);
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

function report(r: {
  latency: Record<string, unknown[]>;
  cpuPer1000: Record<string, number[]>;
  newConn: Record<string, unknown>;
  gbps: Record<string, number[]>;
  cpuPerGb: Record<string, number[]>;
  rss: Record<string, number>;
}): void {
  if (!ONLY.has('latency') || !ONLY.has('newconn')) {
    // A partial run (profiling): raw numbers only.
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  type L = { p50Ms: number; p90Ms: number; p99Ms: number };
  const lat = (arm: string, k: keyof L) => median((r.latency[arm] as L[]).map((x) => x[k]));
  const added = (arm: string, k: keyof L) =>
    Math.round((lat(arm, k) - lat('direct', k)) * 1000) / 1000;
  const nc = (arm: string) => (r.newConn[arm] as { latency: L }).latency;
  const summary = {
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      node: process.version,
      kernel: execFileSync('uname', ['-r']).toString().trim(),
    },
    settings: { seconds: SECONDS, rounds: ROUNDS, rps: 1000, connections: 4, responseBytes: 1024 },
    addedLatencyMs: Object.fromEntries(
      ['ztunnel', 'stunnel', 'node-h2'].map((a) => [
        a,
        { p50: added(a, 'p50Ms'), p90: added(a, 'p90Ms'), p99: added(a, 'p99Ms') },
      ]),
    ),
    latencyMs: Object.fromEntries(
      ['direct', 'ztunnel', 'stunnel', 'node-h2'].map((a) => [
        a,
        { p50: lat(a, 'p50Ms'), p90: lat(a, 'p90Ms'), p99: lat(a, 'p99Ms') },
      ]),
    ),
    cpuSecondsPer1000RequestsPerProxy: {
      ztunnel: median(r.cpuPer1000.ztunnel ?? []),
      stunnel: median(r.cpuPer1000.stunnel ?? []),
      'node-h2': median(r.cpuPer1000['node-h2'] ?? []),
    },
    throughputGbps: Object.fromEntries(Object.entries(r.gbps).map(([k, v]) => [k, median(v)])),
    cpuSecondsPerGbPerProxy: {
      ztunnel: median(r.cpuPerGb.ztunnel ?? []),
      stunnel: median(r.cpuPerGb.stunnel ?? []),
      'node-h2': median(r.cpuPerGb['node-h2'] ?? []),
    },
    newConnectionMs: Object.fromEntries(['direct', 'ztunnel', 'stunnel'].map((a) => [a, nc(a)])),
    rssMb: r.rss,
    raw: r,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  const t = summary.throughputGbps as Record<string, number>;
  const rows: [string, string, string][] = [
    [
      'added p50 / p90 / p99 at 1000 RPS (ms)',
      fmt(summary.addedLatencyMs.ztunnel ?? {}),
      fmt(summary.addedLatencyMs.stunnel ?? {}),
    ],
    [
      '  ratio ztunnel / stunnel (p50, p99)',
      ratio(added('ztunnel', 'p50Ms'), added('stunnel', 'p50Ms')) +
        ', ' +
        ratio(added('ztunnel', 'p99Ms'), added('stunnel', 'p99Ms')),
      '',
    ],
    [
      'CPU-s per 1000 requests per proxy',
      String(summary.cpuSecondsPer1000RequestsPerProxy.ztunnel.toFixed(3)),
      String(summary.cpuSecondsPer1000RequestsPerProxy.stunnel.toFixed(3)),
    ],
    [
      '  floor: bare Node h2 CONNECT pair (same run)',
      `${summary.cpuSecondsPer1000RequestsPerProxy['node-h2'].toFixed(3)} (ztunnel ${ratio(summary.cpuSecondsPer1000RequestsPerProxy.ztunnel, summary.cpuSecondsPer1000RequestsPerProxy['node-h2'])}x floor)`,
      '',
    ],
    [
      `1-stream throughput Gbit/s (direct ${t.direct})`,
      `${t.ztunnel} (${ratio(t.ztunnel ?? 0, t.direct ?? 0)}x direct, ${ratio(t.ztunnel ?? 0, t.stunnel ?? 0)}x stunnel)`,
      `${t.stunnel} (${ratio(t.stunnel ?? 0, t.direct ?? 0)}x direct)`,
    ],
    [
      'new connection p50 / p99 ms (direct ' +
        nc('direct').p50Ms +
        ' / ' +
        nc('direct').p99Ms +
        ')',
      `${nc('ztunnel').p50Ms} / ${nc('ztunnel').p99Ms}`,
      `${nc('stunnel').p50Ms} / ${nc('stunnel').p99Ms}`,
    ],
    [
      'CPU-s per GB per proxy (bulk)',
      String(summary.cpuSecondsPerGbPerProxy.ztunnel.toFixed(2)),
      String(summary.cpuSecondsPerGbPerProxy.stunnel.toFixed(2)),
    ],
    [
      '  floor: bare Node h2 CONNECT pair: Gbit/s, CPU-s/GB',
      `${t['node-h2']}, ${summary.cpuSecondsPerGbPerProxy['node-h2'].toFixed(2)}`,
      '',
    ],
    [
      'RSS MB idle / after 1000 RPS / after bulk',
      `${r.rss.ztunnelIdleClient}, ${r.rss.ztunnelLoadClient}, ${r.rss.ztunnelClient} / ${r.rss.ztunnelIdleServer}, ${r.rss.ztunnelLoadServer}, ${r.rss.ztunnelServer}`,
      String(r.rss.stunnel),
    ],
  ];
  process.stdout.write(`\n${'metric'.padEnd(52)} ${'ztunnel x2'.padEnd(40)} stunnel x2\n`);
  for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(52)} ${b.padEnd(40)} ${c}\n`);
}

const fmt = (x: { p50?: number; p90?: number; p99?: number }) => `${x.p50} / ${x.p90} / ${x.p99}`;
const ratio = (a: number, b: number) => (b === 0 ? 'n/a' : (a / b).toFixed(2));

await main();
