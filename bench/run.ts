// The benchmark harness (issue 7): ambit side by side with direct, stunnel and
// haproxy, and the sidecar tax. Run as root:
//   npm run bench [-- --quick] [-- --out FILE.json] [-- --ztunnel-mode shared|dedicated]
//                 [-- --build dist|bundle]
//                 [-- --arms direct,stunnel,...] [-- --no-tax]
// It builds its own network namespaces (two nodes, client and server pods),
// runs every arm interleaved over rounds (the order rotates each round, so
// machine drift hits all arms alike), measures, and removes everything, also
// on Ctrl-C or a crash. Output: JSON (--out, default bench/results/<mode>.json),
// a Markdown table on stdout, SVG plots in bench/results/. Method: docs/performance.md.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CertificateAuthority } from '../src/controlplane/ca/index.js';
import { cleanupLedger, execIn, listLedgers } from '../src/platform/index.js';
import { readLedgerFile } from '../src/platform/ledger.js';
import { logs } from '../src/telemetry/index.js';
import {
  ARM_NAMES,
  ARMS,
  type ArmContext,
  type ArmName,
  issueCerts,
  l7MeshYaml,
  type RunningArm,
} from './lib/arms.js';
import { holdIdle, keepAliveLoad, newConnectionLoad } from './lib/load.js';
import { type AmbitBuild, ambitBuild, MESH_MODES, type MeshEnv, meshYaml } from './lib/mesh.js';
import { barChartSvg } from './lib/svg.js';
import { cpuSeconds, dialer, type Pod, rssMb, Topology } from './lib/topology.js';

const ROOT = new URL('..', import.meta.url).pathname;
const RESULTS = join(ROOT, 'bench/results');
const LEDGERS = join(tmpdir(), 'ambit-bench-ledgers');
const REQUEST = 'GET / HTTP/1.1\r\nHost: app\r\n\r\n';
const CLOSE_REQUEST = 'GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n';
const IDLE_TARGET = 10_000;

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? undefined : argv[i + 1];
};
const QUICK = flag('quick');
// A proxy holds two fds per idle connection (client side and upstream side) and
// cannot raise its fd limit above the hard limit it inherits (no
// CAP_SYS_RESOURCE in containers), so the full mode holds as many idle
// connections as that allows, up to 10,000, and scales the growth to 10,000.
const FD_HARD = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim()) || 1024;
const IDLE_FULL = Math.min(IDLE_TARGET, Math.floor((FD_HARD - 500) / 2));
const S = QUICK
  ? {
      rounds: 2,
      latencyS: 1.5,
      warmupS: 0.3,
      iperfS: 1,
      newConnS: 1,
      idleConns: Math.min(300, IDLE_FULL),
      taxS: 2,
      // Quick mode is a smoke test: a smaller tax topology keeps it under two minutes.
      podsPerNode: 5,
    }
  : {
      rounds: 5,
      latencyS: 10,
      warmupS: 1,
      iperfS: 5,
      newConnS: 5,
      idleConns: IDLE_FULL,
      taxS: 10,
      podsPerNode: 20,
    };
// Targeted runs (profiling one arm): override the mode's rounds and latency seconds.
if (opt('rounds') !== undefined) S.rounds = Number(opt('rounds'));
if (opt('latency-s') !== undefined) S.latencyS = Number(opt('latency-s'));
const RPS = 1000;
const CONNECTIONS = 4;
const NEW_CONN_RPS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const median = (xs: number[]): number | null => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const round = (x: number | null, d = 3): number | null =>
  x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d;
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a == null || b == null || b === 0 ? null : round(a / b, 3);

type Pct = { p50: number; p90: number; p99: number };
interface ArmData {
  latency: Pct[];
  added: Pct[];
  cpuPer1k: number[];
  /** Per kind of proxy (RunningArm.roles): CPU-s per 1000 requests and max RSS, per round. */
  byRole: Record<string, { cpuPer1k: number[]; rss: number[] }>;
  rssMax: number[];
  rssTotal: number[];
  gbps: number[];
  newConnP50: number[];
  newConnP99: number[];
  newConnErrors: number;
  missing: number;
  /** Max RSS per proxy right after startup, before any traffic. */
  rssStart?: number;
  idle?: { conns: number; errors: number; rssMax: number; rssTotal: number; kbPerConn: number };
  nulls: Record<string, string>;
}

/** Removes what earlier runs left behind if they died without cleaning up (SIGKILL). */
async function sweepStale(): Promise<void> {
  for (const path of listLedgers(LEDGERS)) {
    const owner = readLedgerFile(path)?.ownerPid;
    let alive = false;
    try {
      if (owner !== undefined) process.kill(owner, 0);
      alive = owner !== undefined;
    } catch {
      alive = false;
    }
    if (alive) continue;
    log(`removing leftovers of a dead run: ${path}`);
    await cleanupLedger(path);
    rmSync(dirname(path), { recursive: true, force: true });
  }
}

/** RSS of the arm's proxies: [max per proxy, total]. */
function rssOf(pids: number[]): [number, number] {
  const v = pids.map(rssMb);
  return [Math.max(...v), v.reduce((a, b) => a + b, 0)];
}

async function measureLatency(arm: RunningArm, d: ArmData): Promise<Pct> {
  const before = arm.pids.map(cpuSeconds);
  let rss: [number, number] = [0, 0];
  // RSS under load: sampled in the middle of the run.
  let rssEach: number[] = [];
  const sampler = setTimeout(
    () => {
      if (arm.pids.length > 0) rss = rssOf(arm.pids);
      rssEach = arm.pids.map(rssMb);
    },
    (S.warmupS + S.latencyS / 2) * 1000,
  );
  const res = await keepAliveLoad(arm.http, {
    rps: RPS,
    connections: CONNECTIONS,
    durationMs: (S.warmupS + S.latencyS) * 1000,
    warmupMs: S.warmupS * 1000,
    request: REQUEST,
  });
  clearTimeout(sampler);
  // Responses still missing 5 s after the last send are counted, not fatal:
  // an overloaded peer is a result, and its latency histogram already shows it.
  d.missing += res.sent - res.completed;
  if (arm.pids.length > 0) {
    const used = arm.pids.map((p, i) => cpuSeconds(p) - (before[i] ?? 0));
    d.cpuPer1k.push((used.reduce((a, b) => a + b, 0) / res.completed) * 1000);
    d.rssMax.push(rss[0]);
    d.rssTotal.push(rss[1]);
    if (arm.roles) {
      const cpu: Record<string, number> = {};
      const mem: Record<string, number> = {};
      arm.roles.forEach((role, i) => {
        cpu[role] = (cpu[role] ?? 0) + (used[i] ?? 0);
        mem[role] = Math.max(mem[role] ?? 0, rssEach[i] ?? 0);
      });
      for (const role of Object.keys(cpu)) {
        const r = d.byRole[role] ?? { cpuPer1k: [], rss: [] };
        d.byRole[role] = r;
        r.cpuPer1k.push(((cpu[role] ?? 0) / res.completed) * 1000);
        r.rss.push(mem[role] ?? 0);
      }
    }
  }
  const p = { p50: res.latency.p50Ms, p90: res.latency.p90Ms, p99: res.latency.p99Ms };
  d.latency.push(p);
  return p;
}

async function measureIperf(arm: RunningArm, d: ArmData): Promise<void> {
  if ('unavailable' in arm.iperf) {
    d.nulls.throughput_gbps = arm.iperf.unavailable;
    return;
  }
  const { netns, host, port } = arm.iperf;
  const { stdout } = await execIn(netns, 'iperf3', [
    '-c',
    host,
    '-p',
    String(port),
    '-t',
    String(S.iperfS),
    '-J',
  ]);
  const j = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
  d.gbps.push(j.end.sum_received.bits_per_second / 1e9);
}

async function measureNewConn(arm: RunningArm, d: ArmData): Promise<void> {
  const res = await newConnectionLoad(arm.http, {
    rps: NEW_CONN_RPS,
    durationMs: S.newConnS * 1000,
    warmupMs: 200,
    request: CLOSE_REQUEST,
  });
  d.newConnP50.push(res.latency.p50Ms);
  d.newConnP99.push(res.latency.p99Ms);
  d.newConnErrors += res.errors;
}

async function measureIdle(arm: RunningArm, d: ArmData): Promise<void> {
  if (arm.pids.length === 0) {
    d.nulls.idle_10k_rss_mb = 'no proxy';
    return;
  }
  await sleep(300);
  const [, before] = rssOf(arm.pids);
  const { sockets, errors } = await holdIdle(arm.http, S.idleConns, REQUEST);
  await sleep(500);
  const [max, total] = rssOf(arm.pids);
  for (const s of sockets) s.destroy();
  const conns = sockets.length;
  // RSS can shrink while idle connections open (a GC returned pages): that is
  // no growth, not negative memory per connection.
  const kbPerConn =
    conns > 0 ? Math.max(0, ((total - before) * 1024) / conns / arm.pids.length) : Number.NaN;
  d.idle = { conns, errors, rssMax: max, rssTotal: total, kbPerConn };
  await sleep(1000); // let the proxies close their side before the next arm
}

function emptyData(): ArmData {
  return {
    latency: [],
    added: [],
    cpuPer1k: [],
    byRole: {},
    rssMax: [],
    rssTotal: [],
    gbps: [],
    newConnP50: [],
    newConnP99: [],
    newConnErrors: 0,
    missing: 0,
    nulls: {},
  };
}

async function tax(
  topo: Topology,
  env: MeshEnv,
  pairs: [Pod, Pod][],
): Promise<Record<string, unknown>> {
  const clients = pairs.map(([c]) => c);
  const all = pairs.flat();
  let next = 0;
  // One keep-alive connection per client pod to its own server pod; 1000 RPS in total.
  const connect = () => {
    const [c, s] = pairs[next++ % pairs.length] as [Pod, Pod];
    return dialer(c.netns, s.ip, 8080)();
  };
  const side = async (mode: 'dedicated' | 'shared') => {
    const mesh = await MESH_MODES[mode]?.(env, all);
    if (!mesh || 'unavailable' in mesh) {
      return {
        cpu_s: null,
        rss_mb: null,
        unavailable: mesh && 'unavailable' in mesh ? mesh.unavailable : 'unknown mode',
      };
    }
    try {
      await keepAliveLoad(connect, {
        rps: 200,
        connections: clients.length,
        durationMs: 1000,
        warmupMs: 1000,
        request: REQUEST,
      });
      const before = mesh.pids.map(cpuSeconds);
      let rss = 0;
      const sampler = setTimeout(() => {
        rss = rssOf(mesh.pids)[1];
      }, S.taxS * 500);
      const res = await keepAliveLoad(connect, {
        rps: RPS,
        connections: clients.length,
        durationMs: S.taxS * 1000,
        warmupMs: 0,
        request: REQUEST,
      });
      clearTimeout(sampler);
      const cpu = mesh.pids
        .map((p, i) => cpuSeconds(p) - (before[i] ?? 0))
        .reduce((a, b) => a + b, 0);
      return {
        cpu_s: round(cpu),
        rss_mb: round(rss, 1),
        proxies: mesh.pids.length,
        cpu_s_per_1k_req: round((cpu / res.completed) * 1000, 4),
        vcpu: round(cpu / S.taxS),
        requests: res.completed,
        latency_ms: res.latency,
      };
    } finally {
      for (const pid of mesh.pids) {
        const c = topo.processByPid(pid);
        if (c) await topo.stop(c);
      }
      await mesh.close?.();
    }
  };
  log(`tax: sidecar topology (a dedicated ztunnel per pod, ${all.length} pods)`);
  const sidecar = await side('dedicated');
  log(`tax: ambient (a shared ztunnel per node)`);
  const ambient = await side('shared');
  const red = (k: 'cpu_s' | 'rss_mb') => {
    const a = ambient[k] as number | null;
    const s = sidecar[k] as number | null;
    return a == null || s == null || s === 0 ? null : round(1 - a / s, 3);
  };
  return {
    pods_per_node: S.podsPerNode,
    rps: RPS,
    seconds: S.taxS,
    sidecar,
    ambient,
    reduction: { cpu: red('cpu_s'), memory: red('rss_mb') },
  };
}

async function main(): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('run as root (network namespaces, nftables)');
  const arms = (opt('arms')?.split(',') ?? [...ARM_NAMES]) as ArmName[];
  for (const a of arms)
    if (!ARMS[a]) throw new Error(`unknown arm ${a}; arms: ${ARM_NAMES.join(', ')}`);
  // Shared (one ztunnel per node, in-pod redirection) is the ambient topology the
  // issue asks for; dedicated (a ztunnel per pod) stays available to compare.
  const meshModeName = opt('ztunnel-mode') ?? 'shared';
  const build = (opt('build') ?? 'dist') as AmbitBuild;
  if (build !== 'dist' && build !== 'bundle') throw new Error('--build must be dist or bundle');
  // The node agents run in this process; their info lines would drown the progress log.
  logs.setLevel('warn', 'node-agent');
  const meshMode = MESH_MODES[meshModeName];
  if (!meshMode)
    throw new Error(`--ztunnel-mode must be one of ${Object.keys(MESH_MODES).join(', ')}`);
  const out = resolve(opt('out') ?? join(RESULTS, `${QUICK ? 'quick' : 'full'}.json`));
  const started = Date.now();
  const load0 = loadavg();
  // The peers come from Debian packages (scripts/bootstrap.sh installs them).
  for (const tool of ['stunnel4', 'haproxy', 'iperf3', 'nft', 'ip']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(
        `${tool} is not installed; run scripts/bootstrap.sh (apt-get install stunnel4 haproxy iperf3 nftables iproute2)`,
      );
    }
  }
  await sweepStale();
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-'));
  log(
    `setting up (${QUICK ? 'quick' : 'full'} mode, ztunnel mode ${meshModeName}, ${build} build)`,
  );
  const topo = await Topology.create(LEDGERS);
  topo.logDir = join(dir, 'logs');
  let cleaned = false;
  const cleanupSync = (): void => {
    if (cleaned) return;
    cleaned = true;
    topo.destroySync();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      log(`${sig}: removing everything`);
      cleanupSync();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
  try {
    const [n1, n2] = topo.nodes;
    const plain = {
      client: await topo.addPod(n1, 'pclient'),
      server: await topo.addPod(n2, 'pserver'),
    };
    const mesh = {
      client: await topo.addPod(n1, 'client'),
      server: await topo.addPod(n2, 'server'),
    };
    const l7 = {
      client: await topo.addPod(n1, 'l7client'),
      server: await topo.addPod(n2, 'l7server'),
      waypoint: await topo.addPod(n2, 'waypoint'),
    };
    const taxPairs: [Pod, Pod][] = [];
    if (!flag('no-tax')) {
      // In parallel: each pod is a handful of `ip` commands.
      taxPairs.push(
        ...(await Promise.all(
          Array.from({ length: S.podsPerNode }, async (_, i) => {
            const c = await topo.addPod(n1, `tc${i}`);
            const s = await topo.addPod(n2, `ts${i}`);
            return [c, s] as [Pod, Pod];
          }),
        )),
      );
    }
    const ambit = ambitBuild(build);
    const ca = CertificateAuthority.init(join(dir, 'ca'));
    const configPath = join(dir, 'mesh.yaml');
    writeFileSync(
      configPath,
      meshYaml([mesh.client, mesh.server, l7.client, ...taxPairs.flat()]) + l7MeshYaml(l7),
    );
    let meshStarted: ReturnType<ArmContext['startMesh']> | undefined;
    const meshEnv: MeshEnv = { topo, ambit, configPath, caDir: join(dir, 'ca') };
    const ctx: ArmContext = {
      topo,
      dir,
      certs: issueCerts(ambit, dir, join(dir, 'ca'), ca.trustDomain),
      plain,
      mesh,
      l7,
      meshEnv,
      startMesh: () => {
        meshStarted ??= meshMode(meshEnv, [mesh.client, mesh.server, l7.client, l7.server]);
        return meshStarted;
      },
    };
    // One app process serves every server pod; one iperf3 server per server pod.
    topo.spawn(
      n2.netns,
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench/lib/backend.ts'),
        plain.server.netns,
        mesh.server.netns,
        l7.server.netns,
        ...taxPairs.map(([, s]) => s.netns),
      ],
      { cwd: ROOT },
    );
    topo.spawn(plain.server.netns, 'iperf3', ['-s', '-p', '5201']);
    topo.spawn(mesh.server.netns, 'iperf3', ['-s', '-p', '5201']);
    topo.spawn(l7.server.netns, 'iperf3', ['-s', '-p', '5201']);

    const data = Object.fromEntries(arms.map((a) => [a, emptyData()])) as Record<ArmName, ArmData>;
    const running = new Map<ArmName, RunningArm>();
    const unavailable: Partial<Record<ArmName, string>> = {};
    for (const a of arms) {
      try {
        const r = await ARMS[a](ctx);
        if ('unavailable' in r) unavailable[a] = r.unavailable;
        else running.set(a, r);
      } catch (err) {
        unavailable[a] = `failed to start: ${err instanceof Error ? err.message : err}`;
      }
      if (unavailable[a]) log(`${a}: unavailable (${unavailable[a]})`);
      const r = running.get(a);
      if (r && r.pids.length > 0) data[a].rssStart = rssOf(r.pids)[0];
    }
    // Warm-up (certificates, pooled HBONE sessions, JIT), not recorded.
    for (const [a, r] of running) {
      try {
        await keepAliveLoad(r.http, {
          rps: 200,
          connections: CONNECTIONS,
          durationMs: 500,
          warmupMs: 500,
          request: REQUEST,
        });
      } catch (err) {
        log(`${a}: warm-up failed: ${err}`);
      }
    }
    log(`setup done in ${((Date.now() - started) / 1000).toFixed(1)} s; ${S.rounds} rounds`);

    const order = [...running.keys()];
    for (let r = 0; r < S.rounds; r++) {
      const rot = order.map((_, i) => order[(i + r) % order.length] as ArmName);
      const round: Partial<Record<ArmName, Pct>> = {};
      for (const a of rot) {
        const arm = running.get(a) as RunningArm;
        const d = data[a];
        try {
          round[a] = await measureLatency(arm, d);
          await measureIperf(arm, d);
          await measureNewConn(arm, d);
        } catch (err) {
          d.nulls[`round ${r}`] = String(err);
        }
      }
      // Added latency is taken per round (the arm minus direct in the same round).
      const base = round.direct;
      for (const a of order) {
        const p = round[a];
        if (base && p)
          data[a].added.push({
            p50: p.p50 - base.p50,
            p90: p.p90 - base.p90,
            p99: p.p99 - base.p99,
          });
      }
      log(
        `round ${r + 1}/${S.rounds}: ` +
          order.map((a) => `${a} p50 ${round[a]?.p50 ?? '-'} ms`).join(', '),
      );
    }

    for (const a of order) {
      log(`${a}: ${S.idleConns} idle connections`);
      try {
        await measureIdle(running.get(a) as RunningArm, data[a]);
      } catch (err) {
        data[a].nulls.idle_10k_rss_mb = String(err);
      }
    }

    // The tax runs on a quiet machine: stop every arm's proxies first.
    for (const r of running.values()) {
      for (const pid of r.pids) {
        const c = topo.processByPid(pid);
        if (c) await topo.stop(c);
      }
      await r.close?.();
    }
    const taxResult = flag('no-tax')
      ? null
      : await tax(topo, meshEnv, taxPairs).catch((err: unknown) => ({ error: String(err) }));

    const result = assemble(arms, data, unavailable, taxResult, {
      mode: QUICK ? 'quick' : 'full',
      meshModeName,
      build,
      seconds: (Date.now() - started) / 1000,
      load0,
    });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    // Plots go beside the JSON (bench/results by default; a smoke run's
    // --out elsewhere leaves the committed plots alone).
    writePlots(result, QUICK ? 'quick' : 'full', dirname(out));
    process.stdout.write(markdown(result));
    log(`wrote ${out} and plots in ${dirname(out)} (${result.duration_s} s)`);
  } finally {
    await topo.destroy();
    cleaned = true;
    if (flag('keep')) log(`kept ${dir} (logs in ${topo.logDir})`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

type Result = ReturnType<typeof assemble>;

function assemble(
  arms: ArmName[],
  data: Record<ArmName, ArmData>,
  unavailable: Partial<Record<ArmName, string>>,
  taxResult: Record<string, unknown> | null,
  meta: { mode: string; meshModeName: string; build: string; seconds: number; load0: number[] },
) {
  const pct = (xs: Pct[]) =>
    xs.length === 0
      ? null
      : {
          p50: round(median(xs.map((x) => x.p50))),
          p90: round(median(xs.map((x) => x.p90))),
          p99: round(median(xs.map((x) => x.p99))),
        };
  const armOut: Record<string, Record<string, unknown>> = {};
  for (const a of arms) {
    const d = data[a];
    if (unavailable[a]) {
      armOut[a] = {
        latency_ms: null,
        added_latency_ms: null,
        throughput_gbps: null,
        new_conn_p50_ms: null,
        cpu_s_per_1k_req: null,
        rss_mb: null,
        idle_10k_rss_mb: null,
        unavailable: unavailable[a],
      };
      continue;
    }
    const proxy = a !== 'direct';
    // Quick mode holds fewer idle connections; the 10k figure is then a linear
    // extrapolation of the per-connection growth (idle_conns says how many were held).
    const idle = d.idle;
    const idle10k =
      idle === undefined
        ? null
        : idle.conns >= IDLE_TARGET
          ? idle.rssMax
          : idle.rssMax + (idle.kbPerConn * (IDLE_TARGET - idle.conns)) / 1024;
    if (!proxy) {
      d.nulls.cpu_s_per_1k_req = 'no proxy';
      d.nulls.rss_mb = 'no proxy';
      d.nulls.idle_10k_rss_mb = 'no proxy';
    }
    armOut[a] = {
      latency_ms: pct(d.latency),
      added_latency_ms: pct(d.added),
      throughput_gbps: round(median(d.gbps), 2),
      new_conn_p50_ms: round(median(d.newConnP50)),
      cpu_s_per_1k_req: proxy ? round(median(d.cpuPer1k), 4) : null,
      rss_mb: proxy ? round(median(d.rssMax), 1) : null,
      idle_10k_rss_mb: proxy ? round(idle10k, 1) : null,
      // extras
      rss_start_mb: proxy ? round(d.rssStart ?? null, 1) : null,
      rss_total_mb: proxy ? round(median(d.rssTotal), 1) : null,
      // Mixed arms (ambit-l7): each kind of proxy on its own, e.g. the waypoint alone.
      by_process:
        Object.keys(d.byRole).length > 0
          ? Object.fromEntries(
              Object.entries(d.byRole).map(([role, v]) => [
                role,
                {
                  cpu_s_per_1k_req: round(median(v.cpuPer1k), 4),
                  vcpu_at_rps: round(((median(v.cpuPer1k) ?? Number.NaN) * RPS) / 1000, 3),
                  rss_mb: round(median(v.rss), 1),
                },
              ]),
            )
          : undefined,
      new_conn_p99_ms: round(median(d.newConnP99)),
      new_conn_errors: d.newConnErrors,
      missing_responses: d.missing,
      idle_conns: idle?.conns ?? null,
      idle_conn_errors: idle?.errors ?? null,
      idle_kb_per_conn_per_proxy: round(idle?.kbPerConn ?? null, 2),
      idle_extrapolated: idle ? idle.conns < IDLE_TARGET : null,
      rounds: d.latency.length,
      per_round: {
        latency_ms: d.latency,
        cpu_s_per_1k_req: d.cpuPer1k.map((x) => round(x, 4)),
        throughput_gbps: d.gbps.map((x) => round(x, 2)),
      },
      null_reasons: Object.keys(d.nulls).length > 0 ? d.nulls : undefined,
    };
  }
  // Ratios against stunnel, from this run only.
  const st = armOut.stunnel as Record<string, unknown> | undefined;
  const g = (o: Record<string, unknown> | undefined, k: string, sub?: string): number | null => {
    const v = o?.[k];
    if (sub) return ((v as Record<string, number> | null)?.[sub] ?? null) as number | null;
    return (v ?? null) as number | null;
  };
  for (const a of arms) {
    const o = armOut[a] as Record<string, unknown>;
    if (a === 'stunnel' || a === 'direct' || !st) continue;
    o.vs_stunnel = {
      added_p50: ratio(g(o, 'added_latency_ms', 'p50'), g(st, 'added_latency_ms', 'p50')),
      added_p99: ratio(g(o, 'added_latency_ms', 'p99'), g(st, 'added_latency_ms', 'p99')),
      throughput: ratio(g(o, 'throughput_gbps'), g(st, 'throughput_gbps')),
      new_conn_p50: ratio(g(o, 'new_conn_p50_ms'), g(st, 'new_conn_p50_ms')),
      cpu_per_1k_req: ratio(g(o, 'cpu_s_per_1k_req'), g(st, 'cpu_s_per_1k_req')),
      rss: ratio(g(o, 'rss_mb'), g(st, 'rss_mb')),
    };
  }
  return {
    mode: meta.mode,
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      kernel: execFileSync('uname', ['-r']).toString().trim(),
      node: process.version,
      loadavg_start: meta.load0.map((x) => round(x, 2)),
      loadavg_end: loadavg().map((x) => round(x, 2)),
    },
    settings: {
      rounds: S.rounds,
      latency_s: S.latencyS,
      rps: RPS,
      connections: CONNECTIONS,
      response_bytes: 1024,
      iperf_s: S.iperfS,
      new_conn_rps: NEW_CONN_RPS,
      new_conn_s: S.newConnS,
      idle_conns: S.idleConns,
      ztunnel_mode: meta.meshModeName,
      ambit_build: meta.build,
    },
    date: new Date().toISOString(),
    duration_s: round(meta.seconds, 1),
    arms: armOut,
    tax: taxResult,
  };
}

const f = (v: unknown, d = 3): string =>
  v === null || v === undefined ? '—' : typeof v === 'number' ? String(round(v, d)) : String(v);

function markdown(r: Result): string {
  const lines = [
    `\n### ambit benchmark (${r.mode}, ${r.settings.rounds} rounds, ${r.machine.cpus} CPUs, ${r.machine.kernel}, Node ${r.machine.node}, load ${r.machine.loadavg_start.join('/')})\n`,
    '| arm | p50 / p90 / p99 ms | added p50 / p99 ms | Gbit/s | new conn p50 ms | CPU-s / 1k req | RSS MB (per proxy) | RSS MB, 10k idle |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [a, o] of Object.entries(r.arms)) {
    const l = o.latency_ms as Pct | null;
    const ad = o.added_latency_ms as Pct | null;
    lines.push(
      `| ${a} | ${l ? `${f(l.p50)} / ${f(l.p90)} / ${f(l.p99)}` : '—'} | ${ad ? `${f(ad.p50)} / ${f(ad.p99)}` : '—'} | ${f(o.throughput_gbps, 2)} | ${f(o.new_conn_p50_ms)} | ${f(o.cpu_s_per_1k_req, 4)} | ${f(o.rss_mb, 1)} | ${f(o.idle_10k_rss_mb, 1)}${o.idle_extrapolated ? '*' : ''} |`,
    );
  }
  lines.push(
    '',
    '| arm vs stunnel (ratio) | added p50 | added p99 | throughput | new conn p50 | CPU / 1k req | RSS |',
    '|---|---|---|---|---|---|---|',
  );
  for (const [a, o] of Object.entries(r.arms)) {
    const v = o.vs_stunnel as Record<string, number | null> | undefined;
    if (!v) continue;
    lines.push(
      `| ${a} | ${f(v.added_p50)} | ${f(v.added_p99)} | ${f(v.throughput)} | ${f(v.new_conn_p50)} | ${f(v.cpu_per_1k_req)} | ${f(v.rss)} |`,
    );
  }
  for (const [a, o] of Object.entries(r.arms)) {
    const by = o.by_process as
      | Record<string, { cpu_s_per_1k_req: number; vcpu_at_rps: number; rss_mb: number }>
      | undefined;
    if (!by) continue;
    const parts = Object.entries(by).map(
      ([role, v]) =>
        `${role}${role === 'ztunnel' ? 's (both)' : ''} ${f(v.cpu_s_per_1k_req, 4)} CPU-s/1k req (${f(v.vcpu_at_rps)} vCPU), ${f(v.rss_mb, 1)} MB`,
    );
    lines.push('', `- ${a} by process: ${parts.join('; ')}`);
  }
  const un = Object.entries(r.arms).filter(([, o]) => o.unavailable);
  if (un.length > 0) lines.push('', ...un.map(([a, o]) => `- ${a}: n/a — ${o.unavailable}`));
  if (Object.values(r.arms).some((o) => o.idle_extrapolated))
    lines.push(`- \\* extrapolated from ${r.settings.idle_conns} idle connections`);
  const t = r.tax as Record<string, Record<string, unknown>> | null;
  if (t) {
    lines.push(
      '',
      `| sidecar tax (${t.pods_per_node} pods per node, ${r.settings.rps} RPS) | mesh CPU-s | mesh RSS MB | proxies |`,
      '|---|---|---|---|',
      `| sidecar (ztunnel per pod) | ${f(t.sidecar?.cpu_s)} | ${f(t.sidecar?.rss_mb, 1)} | ${f(t.sidecar?.proxies)} |`,
      `| ambient (ztunnel per node) | ${f(t.ambient?.cpu_s)} | ${f(t.ambient?.rss_mb, 1)} | ${f(t.ambient?.proxies)} |`,
      `| reduction | ${f(t.reduction?.cpu)} | ${f(t.reduction?.memory)} | |`,
    );
    if (t.ambient?.unavailable) lines.push(`- ambient: n/a — ${t.ambient.unavailable}`);
    if (t.error) lines.push(`- tax failed: ${String(t.error)}`);
  }
  return `${lines.join('\n')}\n`;
}

function writePlots(r: Result, prefix: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const names = Object.keys(r.arms);
  const arm = (k: string, sub?: string) =>
    names.map((a) => {
      const v = (r.arms[a] as Record<string, unknown>)[k];
      if (v === null || v === undefined) return null;
      return (sub ? (v as Record<string, number>)[sub] : v) as number;
    });
  const charts: [string, Parameters<typeof barChartSvg>[0]][] = [
    [
      'latency',
      {
        title: `Latency at ${r.settings.rps} RPS, 1 KiB, ${r.settings.connections} keep-alive connections`,
        unit: 'ms',
        categories: names,
        series: ['p50', 'p90', 'p99'].map((p) => ({ name: p, values: arm('latency_ms', p) })),
      },
    ],
    [
      'throughput',
      {
        title: 'Single-stream throughput (iperf3)',
        unit: 'Gbit/s',
        categories: names,
        series: [{ name: 'Gbit/s', values: arm('throughput_gbps') }],
      },
    ],
    [
      'new-connection',
      {
        title: `New-connection latency p50 (${r.settings.new_conn_rps} conn/s)`,
        unit: 'ms',
        categories: names,
        series: [{ name: 'p50', values: arm('new_conn_p50_ms') }],
      },
    ],
    [
      'cpu-rss',
      {
        title: 'Proxy cost',
        unit: 'CPU-s per 1k req / MB',
        categories: names,
        series: [
          {
            name: 'CPU-s per 1k req x100',
            values: arm('cpu_s_per_1k_req').map((v) => (v === null ? null : v * 100)),
          },
          { name: 'RSS MB per proxy', values: arm('rss_mb') },
          { name: 'RSS MB, 10k idle', values: arm('idle_10k_rss_mb') },
        ],
      },
    ],
  ];
  const t = r.tax as Record<string, Record<string, number | null>> | null;
  if (t?.sidecar) {
    charts.push([
      'tax',
      {
        title: `Sidecar tax: ${t.pods_per_node} pods per node, ${r.settings.rps} RPS`,
        unit: 'mesh total',
        categories: ['CPU-s', 'RSS MB / 100'],
        series: [
          {
            name: 'sidecar',
            values: [
              t.sidecar.cpu_s ?? null,
              t.sidecar.rss_mb == null ? null : t.sidecar.rss_mb / 100,
            ],
          },
          {
            name: 'ambient',
            values: [
              t.ambient?.cpu_s ?? null,
              t.ambient?.rss_mb == null ? null : t.ambient.rss_mb / 100,
            ],
          },
        ],
      },
    ]);
  }
  for (const [name, c] of charts) writeFileSync(join(dir, `${prefix}-${name}.svg`), barChartSvg(c));
}

await main();
