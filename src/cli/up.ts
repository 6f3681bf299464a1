/**
 * `ambit up [DIR]`: run a directory of Kubernetes manifests as a local
 * cluster on this host (nodes and pods are network namespaces, containers are
 * host processes). Foreground by default (Ctrl-C stops and removes
 * everything); `--detach` leaves a daemon running and returns once ready.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { AmbitError, CoreErrors } from '../core/errors.js';
import { readManifests } from '../kube/index.js';
import {
  type ClusterPlan,
  LocalErrors,
  planCluster,
  preflight,
  prepareRoot,
  readState,
  runDir,
  runRoot,
  startCluster,
} from '../local/index.js';
import { logs } from '../telemetry/logger.js';

/** The demo shipped with ambit, used when no DIR is given. */
export const DEMO_DIR = fileURLToPath(new URL('../../examples/demo', import.meta.url));

interface UpOptions {
  nodes: string;
  detach: boolean;
  daemonRun?: string;
  readyTimeout: string;
  /** commander's --no-mesh */
  mesh: boolean;
}

function newShortRunId(): string {
  // Short: it is part of every netns name (≤ 62 chars) and of `ip netns list`.
  return randomBytes(4).readUInt32BE(0).toString(36).padStart(6, '0').slice(0, 6);
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The demo's own walkthrough (examples/demo; names fixed by its README). */
function demoSteps(plan: Pick<ClusterPlan, 'pods' | 'services'>): string[] | undefined {
  const has = (ns: string, d: string) =>
    plan.pods.some((p) => p.namespace === ns && p.deployment === d);
  if (!has('shop', 'loadgen') || !has('shop', 'frontend') || !has('legacy', 'legacy-client'))
    return undefined;
  return [
    '',
    'try:',
    '  ambit get pods                     # MESH column: shop is enrolled, legacy is not',
    '  ambit exec -n shop deploy/loadgen -- curl -s http://frontend.shop/',
    '      # works: loadgen → frontend → catalog, mTLS over HBONE (15008)',
    '  ambit exec -n shop deploy/loadgen -- curl -s -m 3 http://catalog.shop/items',
    '      # 403: only frontend may call catalog (enforced at the shop waypoint)',
    "  ambit exec -n shop deploy/loadgen -- curl -s -H 'x-canary: true' http://frontend.shop/",
    '      # catalog v2 every time; without the header ≈90% v1 / 10% v2 (HTTPRoute)',
    '  ambit waypoint status -n shop      # the waypoint: programmed, serving catalog.shop',
    '  ambit exec -n legacy deploy/legacy-client -- curl -s -m 3 http://frontend.shop/',
    '      # nothing: shop is STRICT mTLS and legacy is outside the mesh',
    '  ambit label namespace legacy istio.io/dataplane-mode=ambient   # enrol legacy live',
    '  ambit logs -n istio-system ztunnel-node-0     # access log with both identities',
    '  ambit down',
  ];
}

/** What to try once the cluster is up. */
export function nextSteps(plan: Pick<ClusterPlan, 'pods' | 'services'>): string[] {
  const demo = demoSteps(plan);
  if (demo) return demo;
  const out = ['', 'try:', '  ambit get pods', '  ambit get services'];
  const svc = plan.services.find((s) => s.endpoints.length > 0);
  const serving = new Set(svc?.endpoints.map((e) => e.ip));
  const client =
    plan.pods.find(
      (p) =>
        p.deployment !== undefined &&
        !serving.has(p.ip) &&
        p.containers.every((c) => c.ports.length === 0),
    ) ??
    plan.pods.find((p) => !serving.has(p.ip)) ??
    plan.pods[0];
  if (svc && client) {
    const target = client.deployment ? `deploy/${client.deployment}` : client.name;
    const port = svc.ports[0]?.port ?? 80;
    const url = `http://${svc.name}.${svc.namespace}${port === 80 ? '' : `:${port}`}/`;
    out.push(`  ambit exec -n ${client.namespace} ${target} -- curl -s -m 3 ${url}`);
    out.push(`  ambit logs -n ${client.namespace} ${target}`);
  }
  out.push('  ambit down');
  return out;
}

function plan(dirArg: string | undefined, o: UpOptions, runId: string): ClusterPlan {
  const dir = resolve(dirArg ?? DEMO_DIR);
  if (!existsSync(dir)) {
    throw new AmbitError(CoreErrors.CONFIG_INVALID, `manifest directory ${dir} does not exist`);
  }
  const nodes = Number(o.nodes);
  // With the mesh, waypoint Gateways run as pods using the run's credentials.
  const meshRunDir = o.mesh ? runDir(runRoot(), runId) : undefined;
  return planCluster(readManifests([dir]), { runId, dir, nodes, meshRunDir });
}

async function foreground(
  p: ClusterPlan,
  root: string,
  timeoutMs: number,
  daemon: boolean,
  mesh: boolean,
) {
  const cluster = await startCluster(p, {
    root,
    progress: say,
    readyTimeoutMs: timeoutMs,
    mesh,
  });
  say(
    `cluster ${p.runId} is ready (${p.nodes.length} nodes, ${p.pods.length} pods${mesh ? `, ${p.nodes.length} ztunnels, control plane` : ''})`,
  );
  if (!daemon) {
    for (const l of nextSteps(p)) say(l);
    say('\nCtrl-C stops the cluster and removes everything it created.');
  }
  await new Promise<void>((done) => {
    const onSignal = (sig: NodeJS.Signals) => {
      say(`${sig}: stopping cluster ${p.runId}`);
      done();
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, onSignal);
  });
  await cluster.stop();
  say('stopped; every namespace, veth, nft table, hosts file and process was removed');
}

/** Starts the daemon and relays its progress until the cluster is ready or it fails. */
async function detach(p: ClusterPlan, root: string, o: UpOptions, dir: string): Promise<void> {
  const rd = runDir(root, p.runId);
  mkdirSync(rd, { recursive: true, mode: 0o700 });
  const logPath = join(rd, 'runner.log');
  const out = openSync(logPath, 'a', 0o600);
  const argv = [process.argv[1] ?? 'ambit', 'up', dir, '--nodes', String(p.nodes.length)];
  argv.push('--daemon-run', p.runId, '--ready-timeout', o.readyTimeout);
  if (!o.mesh) argv.push('--no-mesh');
  // detached → setsid: the runner survives this shell and its Ctrl-C.
  const child = spawn(process.execPath, [...process.execArgv, ...argv], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  child.unref();
  const fd = openSync(logPath, 'r');
  let pos = 0;
  const buf = Buffer.alloc(65536);
  const relay = () => {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      process.stdout.write(buf.subarray(0, n));
    }
  };
  try {
    for (;;) {
      relay();
      const st = readState(rd);
      if (st?.status === 'ready') break;
      if (exited !== undefined || st?.status === 'failed') {
        await sleep(200);
        relay();
        throw new AmbitError(
          LocalErrors.START_FAILED,
          `the cluster runner stopped before the cluster was ready${st?.error ? `: ${st.error}` : ''}`,
        );
      }
      await sleep(100);
    }
  } finally {
    closeSync(fd);
  }
  say(`cluster ${p.runId} is running in the background (runner pid ${child.pid})`);
  for (const l of nextSteps(p)) say(l);
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run a directory of Kubernetes manifests as a local cluster on this host (root)')
    .argument('[dir]', 'manifest directory (default: the bundled demo, examples/demo)')
    .option('--nodes <n>', 'number of nodes', '2')
    .option('-d, --detach', 'run in the background and return once every pod is ready', false)
    .option(
      '--ready-timeout <seconds>',
      'how long the control plane, ztunnels and pods may take to become ready',
      '60',
    )
    .option('--no-mesh', 'no control plane/ztunnel: plain pods, VIPs via per-pod DNAT')
    .option('--daemon-run <id>', 'internal: run as the detached runner for this run id')
    .action(async (dirArg: string | undefined, o: UpOptions, cmd: Command) => {
      preflight('ambit up');
      // The runner's own components (node agents) log warnings only, unless
      // asked: stdout is the user's progress. The mesh processes keep their
      // level (and their access logs) in their own log files.
      if (cmd.optsWithGlobals<{ logLevel?: string }>().logLevel === undefined) {
        logs.setLevel('warn');
      }
      const root = runRoot();
      const timeoutMs = Number(o.readyTimeout) * 1000;
      if (o.daemonRun !== undefined) {
        const p = plan(dirArg, o, o.daemonRun);
        await foreground(p, root, timeoutMs, true, o.mesh);
        return;
      }
      // Validate everything before touching the host.
      const p = plan(dirArg, o, newShortRunId());
      await prepareRoot(root, say);
      say(`manifests: ${p.pods.length} pods, ${p.services.length} services in ${p.dir}`);
      if (o.detach) await detach(p, root, o, p.dir);
      else await foreground(p, root, timeoutMs, false, o.mesh);
    });
}
