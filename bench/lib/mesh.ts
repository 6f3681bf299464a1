// How ambit's L4 data plane is put in front of a set of pods. The ambit-l4 arm
// and both sides of the sidecar tax go through a `MeshMode`: `sharedMesh` (one
// ztunnel per node, in-pod redirection: ambient, the default) or `dedicatedMesh`
// (a ztunnel inside each pod: the sidecar topology).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { PROXY_NODE_FLAGS } from '../../src/config/node-flags.js';
import { applyInpodRules, NodeAgent } from '../../src/inpod/index.js';
import { connectFrom } from '../../src/platform/index.js';
import type { BenchNode, Pod, Topology } from './topology.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface MeshEnv {
  topo: Topology;
  /** argv that runs the ambit CLI (node + the compiled or bundled entry, see ambitBuild). */
  ambit: string[];
  /** Local config YAML listing every pod as a workload (see meshYaml). */
  configPath: string;
  caDir: string;
}

export type MeshResult =
  | {
      pids: number[];
      /** Tears down what runs in this process (node agents); the PIDs are stopped by the caller. */
      close?: () => Promise<void>;
    }
  | { unavailable: string };

/** Puts `pods` in the mesh (in-pod capture + ztunnel(s)); returns the proxy PIDs to measure. */
export type MeshMode = (env: MeshEnv, pods: Pod[]) => Promise<MeshResult>;

/** The workload name ztunnel's dedicated mode is given for a bench pod. */
export const workloadOf = (p: Pod): string => `bench/${p.name}/${p.name}`;

export function meshYaml(pods: Pod[]): string {
  const lines = pods.map(
    (p) =>
      `- {name: ${p.name}, namespace: bench, serviceAccount: ${p.name}, node: ${p.node.name}, workloadIps: ["${p.ip}"], protocol: HBONE}`,
  );
  return `workloads:\n${lines.join('\n')}\n`;
}

export async function readyIn(netns: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get(
        {
          path: '/healthz/ready',
          createConnection: () =>
            connectFrom({ netns, host: '127.0.0.1', port: 15021 }) as unknown as Socket,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.once('error', () => resolve(0));
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`ztunnel in ${netns} never became ready`);
    await sleep(100);
  }
}

/**
 * The sidecar topology: a dedicated-mode ztunnel inside each pod's netns, with the
 * in-pod nftables capture applied there. The ztunnel's own sockets carry
 * SO_MARK 0x539, which the rules exempt. Used as the sidecar side of the tax
 * (and as the ambit-l4 arm with --ztunnel-mode dedicated) (a proxy per pod is exactly the sidecar topology).
 */
export const dedicatedMesh: MeshMode = async (env, pods) => {
  const pids: number[] = [];
  for (const p of pods) {
    await applyInpodRules(p.netns, { ledger: env.topo.ledger });
    const [cmd, ...pre] = env.ambit as [string, ...string[]];
    const c = env.topo.spawn(p.netns, cmd, [
      ...pre,
      '--log-level=warn',
      'ztunnel',
      '--mode=dedicated',
      `--workload=${workloadOf(p)}`,
      `--local-config=${env.configPath}`,
      `--ca-dir=${env.caDir}`,
    ]);
    if (c.pid === undefined) throw new Error(`ztunnel for ${p.name} did not start`);
    pids.push(c.pid);
  }
  // Start them all, then wait: startup is mostly CPU, so this overlaps I/O waits.
  for (const p of pods) await readyIn(p.netns);
  return { pids };
};

export type AmbitBuild = 'dist' | 'bundle';

/**
 * The ambit CLI the harness runs, never tsx (a tsx ztunnel starts in ~4 CPU-s
 * and costs ~40 MB more RSS, which would swamp the tax's 40 ztunnels).
 * - 'dist' (default): the compiled build bin/ambit.js runs in production,
 *   rebuilt here when a source is newer than dist/.build-stamp, exactly as
 *   scripts/bootstrap.sh does. Modules load lazily, as the CLI intends (a
 *   ztunnel never loads the control plane or `ambit up`).
 * - 'bundle': one esbuild file; every module is evaluated at startup, which
 *   costs RSS (docs/performance.md has the measurement). Kept to compare.
 */
export function ambitBuild(kind: AmbitBuild = 'dist'): string[] {
  return kind === 'bundle' ? bundleAmbit() : compiledAmbit();
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function compiledAmbit(): string[] {
  const stamp = join(ROOT, 'dist/.build-stamp');
  let fresh = false;
  try {
    fresh = statSync(stamp).mtimeMs >= newestSource(join(ROOT, 'src'));
  } catch {
    fresh = false;
  }
  if (!fresh) {
    // The stamp is taken before compiling: a source edited meanwhile stays "newer".
    mkdirSync(join(ROOT, 'dist'), { recursive: true });
    const next = `${stamp}.next`;
    writeFileSync(next, '');
    execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.build.json')], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    renameSync(next, stamp);
  }
  return [process.execPath, ...PROXY_NODE_FLAGS, join(ROOT, 'dist/bin/ambit.js')];
}

/**
 * Bundles the ambit CLI into one file with esbuild (tsx's own dependency). The
 * addon path (../../native/...) resolves from bench/.build as it does from
 * src/platform.
 */
function bundleAmbit(): string[] {
  const out = join(ROOT, 'bench/.build/ambit.mjs');
  execFileSync(
    join(ROOT, 'node_modules/.bin/esbuild'),
    [
      join(ROOT, 'src/bin/ambit.ts'),
      '--bundle',
      '--platform=node',
      '--format=esm',
      `--outfile=${out}`,
      '--log-level=error',
      "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return [process.execPath, ...PROXY_NODE_FLAGS, out];
}

/** `ambit <args> --help` output ('' if it fails). */
export function ambitHelp(ambit: string[], args: string[]): string {
  const [cmd, ...pre] = ambit as [string, ...string[]];
  try {
    return execFileSync(cmd, [...pre, ...args, '--help'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return '';
  }
}

/** True when this build has ztunnel shared mode with an in-pod socket. */
export function sharedModeAvailable(ambit: string[]): boolean {
  return ambitHelp(ambit, ['ztunnel']).includes('--inpod-socket');
}

/**
 * Ambient: one shared-mode ztunnel per node, in the node netns, and a NodeAgent
 * per node (in this process, as the CNI node agent is its own process in Istio)
 * that applies each pod's in-pod rules and hands its netns to the ztunnel over
 * the ZDS socket; the ztunnel then listens inside every pod and dials from there
 * with the pod's IP (the real ambient topology: two ztunnel hops with in-pod
 * redirection). The agents start first and enrol the pods, so the ztunnels'
 * first snapshot carries them and readiness means "every pod is served".
 * Measured: the ztunnel PIDs. The agents are idle after enrolment (no data path).
 */
export const sharedMesh: MeshMode = async (env, pods) => {
  if (!sharedModeAvailable(env.ambit))
    return {
      unavailable:
        'ztunnel shared (in-pod) mode is not in this build (`ambit ztunnel --inpod-socket` missing)',
    };
  const run = ++sharedRuns;
  const byNode = new Map<BenchNode, Pod[]>();
  for (const p of pods) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  const agents: NodeAgent[] = [];
  const close = async () => {
    for (const a of agents.splice(0)) await a.close();
  };
  env.topo.defer(close);
  const pids: number[] = [];
  for (const [node, ps] of byNode) {
    const socketPath = join(dirname(env.configPath), 'zds', `${node.name}-${run}.sock`);
    const agent = new NodeAgent({ socketPath, ledger: env.topo.ledger });
    await agent.start();
    agents.push(agent);
    for (const p of ps)
      await agent.enroll({
        uid: `uid-${p.name}`,
        namespace: 'bench',
        name: p.name,
        serviceAccount: p.name,
        netns: p.netns,
        ips: [p.ip],
      });
    const [cmd, ...pre] = env.ambit as [string, ...string[]];
    const c = env.topo.spawn(node.netns, cmd, [
      ...pre,
      '--log-level=warn',
      'ztunnel',
      '--mode=shared',
      `--node-name=${node.name}`,
      `--inpod-socket=${socketPath}`,
      `--local-config=${env.configPath}`,
      `--ca-dir=${env.caDir}`,
    ]);
    if (c.pid === undefined) throw new Error(`ztunnel for ${node.name} did not start`);
    pids.push(c.pid);
  }
  for (const node of byNode.keys()) await readyIn(node.netns);
  return { pids, close };
};
let sharedRuns = 0;

export const MESH_MODES: Record<string, MeshMode> = {
  dedicated: dedicatedMesh,
  shared: sharedMesh,
};
