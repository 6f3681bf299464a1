// Waypoint L7 engine vs haproxy (HTTP mode) vs a bare Node TCP relay (the
// runtime floor) vs direct, in one run, on loopback: the same backend, the same
// open-loop keep-alive load (1000 RPS by default) in interleaved rounds, each
// proxy in its own process so CPU (utime+stime from /proc) and RSS are its own;
// then the most requests/s each sustains (closed loop).
// The waypoint is fed plain TCP here (no HBONE, which haproxy cannot speak),
// so the comparison is of the HTTP engines; HBONE costs are in bench/hbone-throughput.ts.
//
//   node --import tsx bench/waypoint.ts [--seconds 10] [--rps 1000] [--connections 10] [--rounds 3] [--dist] [--prof DIR]
//     [--root BUILD_DIR]   a compiled build other than dist/; repeat it to measure several
//                          builds side by side in one run (A/B comparisons, one arm each)
//     [--node-load]        ambit's own Node load generator even when fortio is built
//     [--pin]              the proxies on CPU 1, the load generator and the backend on
//                          CPU 0 (taskset): no proxy shares a CPU with the load, so the
//                          scheduler's noise on a small box moves the ratios less
// Output: a table per arm, then one JSON line per waypoint arm: addedP90Ratio
// (median added p90 against haproxy's) and addedP90RatioRounds, the same
// ratio round by round as [min, median, max] (how much the box moved it).
// The open-loop phase uses fortio when scripts/build-fortio.sh has built it
// (bench/.tools/fortio, or FORTIO=path), as Istio's benchmarks do.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROXY_NODE_FLAGS } from '../src/config/node-flags.js';
import { fortioLoad, fortioPath } from './lib/fortio.js';
import { closedLoopLoad, keepAliveLoad, type LoadResult } from './lib/load.js';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // clock ticks (100 Hz) → ms
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}
function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
}
async function untilListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${port}`);
}

interface Row {
  name: string;
  result: LoadResult;
  cpuPer1000?: number;
  vcpu?: number;
  rssMb?: number;
}

const HOST = 'backend.bench.svc.cluster.local';
const REQUEST = `GET /items HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
/** fortio for the open-loop phase when built (scripts/build-fortio.sh); `--node-load` forces ambit's own. */
const FORTIO = process.argv.includes('--node-load') ? undefined : fortioPath();

function connector(port: number): () => Promise<net.Socket> {
  return () =>
    new Promise<net.Socket>((r) => {
      const s = net.connect(port, '127.0.0.1', () => r(s));
    });
}

async function measure(name: string, port: number, pid: number | undefined): Promise<Row> {
  const seconds = arg('seconds', 10);
  const rps = arg('rps', 1000);
  const connections = arg('connections', 10);
  const c0 = pid ? cpuMs(pid) : 0;
  const result = FORTIO
    ? await fortioLoad(FORTIO, port, {
        rps,
        connections,
        durationMs: seconds * 1000,
        host: HOST,
        path: '/items',
        ...(PIN ? { wrap: ['taskset', '-c', PIN.load] } : {}),
      })
    : await keepAliveLoad(connector(port), {
        rps,
        connections,
        durationMs: seconds * 1000,
        warmupMs: 1000,
        request: REQUEST,
      });
  if (!pid) return { name, result };
  const cpu = cpuMs(pid) - c0;
  return {
    name,
    result,
    cpuPer1000: Math.round((cpu / result.completed) * 1000),
    vcpu: Math.round((cpu / (seconds * 1000)) * 1000) / 1000,
    rssMb: rssMb(pid),
  };
}

/**
 * The Node floor: a bare TCP relay (no HTTP parsing, no pipeline), so the
 * waypoint's cost reads against what Node itself charges for a hop.
 */
const NODE_RELAY = `
const net = require('node:net');
const [port, backend] = process.argv.slice(1).map(Number);
net.createServer({ noDelay: true }, (s) => {
  const u = net.connect({ port: backend, host: '127.0.0.1', noDelay: true });
  s.pipe(u); u.pipe(s);
  s.on('error', () => u.destroy()); u.on('error', () => s.destroy());
}).listen(port, '127.0.0.1');
`;

const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)] ?? Number.NaN;
};

/** `--pin`: where each side runs (taskset CPU lists); undefined runs unpinned. */
const PIN = process.argv.includes('--pin') ? { proxy: '1', load: '0' } : undefined;

/** `cmd args` under taskset on the proxies' CPU when pinning. */
function proxyCommand(cmd: string, args: string[]): [string, string[]] {
  return PIN ? ['taskset', ['-c', PIN.proxy, cmd, ...args]] : [cmd, args];
}

async function main(): Promise<void> {
  if (PIN) {
    // The backend lives in this process: every thread of it on the load's CPU.
    execFileSync('taskset', ['-a', '-p', '-c', PIN.load, String(process.pid)], { stdio: 'ignore' });
  }
  const body = Buffer.alloc(64, 'x');
  const backend = http.createServer((_req, res) => {
    res.setHeader('content-length', body.length);
    res.end(body);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const bport = (backend.address() as net.AddressInfo).port;
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-wp-'));
  try {
    // --dist: the compiled build under plain node, as `ambit waypoint run`
    // runs it (build: npx tsc -p tsconfig.build.json); default: src via tsx.
    // --prof DIR: V8 CPU profile of the waypoint child, written on exit.
    // --root DIR: another compiled build (relative to the repo), for A/B
    // runs; given more than once, each build is an arm of the same run.
    const roots = process.argv.flatMap((a, i) =>
      a === '--root' && process.argv[i + 1] ? [process.argv[i + 1] as string] : [],
    );
    const dist = process.argv.includes('--dist') || roots.length > 0;
    const profIdx = process.argv.indexOf('--prof');
    const prof =
      profIdx > 0 ? ['--cpu-prof', '--cpu-prof-dir', process.argv[profIdx + 1] as string] : [];
    const builds = roots.length > 0 ? roots : [dist ? 'dist' : 'src'];
    const waypoints: { name: string; port: number; pid: number | undefined }[] = [];
    for (const build of builds) {
      const port = await freePort();
      const wp = spawn(
        ...proxyCommand(process.execPath, [
          // The V8 flags `ambit up` starts its waypoints with (src/config/node-flags.ts).
          ...PROXY_NODE_FLAGS,
          ...prof,
          ...(dist ? [] : ['--import', 'tsx']),
          new URL('./waypoint-serve.mjs', import.meta.url).pathname,
          String(port),
          String(bport),
          '--root',
          build,
        ]),
        {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          env: { ...process.env, NODE_V8_COVERAGE: '' },
        },
      );
      children.push(wp);
      await new Promise((r) => wp.once('message', r));
      const name = builds.length > 1 ? `ambit waypoint (${build})` : 'ambit waypoint engine';
      waypoints.push({ name, port, pid: wp.pid });
    }
    const hport = await freePort();
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      `global\n  maxconn 2000\n  nbthread 1\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  option http-keep-alive\nfrontend f\n  bind 127.0.0.1:${hport}\n  default_backend b\nbackend b\n  server s1 127.0.0.1:${bport}\n`,
    );
    const hp = spawn(...proxyCommand('/usr/sbin/haproxy', ['-f', cfg, '-db']), {
      stdio: 'inherit',
    });
    children.push(hp);
    await untilListening(hport);
    const rport = await freePort();
    const relay = spawn(
      ...proxyCommand(process.execPath, ['-e', NODE_RELAY, String(rport), String(bport)]),
      {
        stdio: 'inherit',
      },
    );
    children.push(relay);
    await untilListening(rport);
    const arms: { name: string; port: number; pid: number | undefined }[] = [
      { name: 'direct', port: bport, pid: undefined },
      { name: 'haproxy (http mode)', port: hport, pid: hp.pid },
      { name: 'node tcp relay (floor)', port: rport, pid: relay.pid },
      ...waypoints,
    ];
    console.error(
      `open-loop load: ${FORTIO ? `fortio (${FORTIO})` : 'ambit bench/lib/load.ts (no fortio: scripts/build-fortio.sh)'}`,
    );
    // Warm every arm (JIT, pools) before anything is measured.
    for (const a of arms)
      await closedLoopLoad(connector(a.port), {
        connections: 10,
        durationMs: 1000,
        request: REQUEST,
      });
    // Rounds interleave the arms, so drift on a shared box hits all alike.
    const rounds = arg('rounds', 3);
    const per = new Map<string, Row[]>();
    for (let r = 0; r < rounds; r++)
      for (const a of arms) {
        const row = await measure(a.name, a.port, a.pid);
        per.set(a.name, [...(per.get(a.name) ?? []), row]);
      }
    const direct = per.get('direct') ?? [];
    // Most requests/s each path sustains: closed loop, 10 connections, 5 s.
    const maxRps = new Map<string, number>();
    for (const a of arms) {
      const c = await closedLoopLoad(connector(a.port), {
        connections: arg('connections', 10),
        durationMs: 5000,
        request: REQUEST,
      });
      maxRps.set(a.name, c.rps);
    }
    const out = arms.map((a) => {
      const rows = per.get(a.name) ?? [];
      const addedP90 = rows.map(
        (row, i) => row.result.latency.p90Ms - (direct[i]?.result.latency.p90Ms ?? 0),
      );
      const m = (f: (row: Row) => number | undefined) => {
        const xs = rows.map(f).filter((x): x is number => x !== undefined);
        return xs.length ? median(xs) : undefined;
      };
      return {
        name: a.name,
        completed: m((row) => row.result.completed),
        p50Ms: m((row) => row.result.latency.p50Ms),
        p90Ms: m((row) => row.result.latency.p90Ms),
        p99Ms: m((row) => row.result.latency.p99Ms),
        addedP90Ms: Math.round(median(addedP90) * 1000) / 1000,
        cpuMsPer1000: m((row) => row.cpuPer1000),
        vcpu: m((row) => row.vcpu),
        rssMb: m((row) => row.rssMb),
        maxRps: maxRps.get(a.name),
      };
    });
    console.table(out);
    const h = out[1];
    const f = out[2];
    // The same ratio round by round (each arm against haproxy in that round):
    // its spread says how far one run's headline can be trusted on this box.
    const perRound = (name: string): [number, number, number] | null => {
      const hap = per.get('haproxy (http mode)') ?? [];
      const xs = (per.get(name) ?? []).flatMap((row, i) => {
        const d = direct[i]?.result.latency.p90Ms ?? 0;
        const ha = (hap[i]?.result.latency.p90Ms ?? 0) - d;
        return ha > 0 ? [(row.result.latency.p90Ms - d) / ha] : [];
      });
      if (xs.length === 0) return null;
      const v = [...xs].sort((a, b) => a - b);
      const r2 = (x: number) => Math.round(x * 100) / 100;
      return [r2(v[0] as number), r2(median(v)), r2(v[v.length - 1] as number)];
    };
    // One line per waypoint arm (one build, or each of an A/B run's).
    for (const w of out.slice(3))
      if (h && f)
        console.log(
          JSON.stringify({
            ...(out.length > 4 ? { arm: w.name } : {}),
            rounds,
            load: FORTIO ? 'fortio' : 'node',
            pinned: PIN !== undefined,
            addedP90Ratio:
              h.addedP90Ms > 0 ? Math.round((w.addedP90Ms / h.addedP90Ms) * 100) / 100 : null,
            addedP90RatioRounds: perRound(w.name),
            cpuRatio: h.cpuMsPer1000
              ? Math.round(((w.cpuMsPer1000 ?? 0) / h.cpuMsPer1000) * 100) / 100
              : null,
            cpuVsNodeFloor: f.cpuMsPer1000
              ? Math.round(((w.cpuMsPer1000 ?? 0) / f.cpuMsPer1000) * 100) / 100
              : null,
            maxRpsRatio: h.maxRps ? Math.round(((w.maxRps ?? 0) / h.maxRps) * 100) / 100 : null,
          }),
        );
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
    // Let the waypoint child exit cleanly (its CPU profile is written on exit).
    await new Promise((r) => (children[0]?.exitCode === null ? children[0].once('exit', r) : r(0)));
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
