// How ambit's L4 data plane is put in front of a set of pods. The ambit-l4 arm
// and both sides of the sidecar tax go through a `MeshMode`, so switching the
// benchmark to ztunnel shared (in-pod) mode is one function: `sharedMesh`.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { applyInpodRules } from '../../src/inpod/index.js';
import { connectFrom } from '../../src/platform/index.js';
import type { Pod, Topology } from './topology.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface MeshEnv {
  topo: Topology;
  /** argv that runs the ambit CLI (node + the bundled entry, see bundleAmbit). */
  ambit: string[];
  /** Local config YAML listing every pod as a workload (see meshYaml). */
  configPath: string;
  caDir: string;
}

export type MeshResult = { pids: number[] } | { unavailable: string };

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

async function readyIn(netns: string, timeoutMs = 60_000): Promise<void> {
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
 * Today's mode: a dedicated-mode ztunnel inside each pod's netns, with the
 * in-pod nftables capture applied there. The ztunnel's own sockets carry
 * SO_MARK 0x539, which the rules exempt. Used as the ambit-l4 arm and as the
 * sidecar side of the tax (a proxy per pod is exactly the sidecar topology).
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

/**
 * Bundles the ambit CLI into one file with esbuild (tsx's own dependency), so
 * each of the tax's 40 ztunnels starts in ~0.6 CPU-s instead of ~4 under tsx;
 * the code that runs is the same. The addon path (../../native/...) resolves
 * from bench/.build as it does from src/platform.
 */
export function bundleAmbit(): string[] {
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
  return [process.execPath, out];
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
 * Ambient: one shared-mode ztunnel per node (in the node netns), with a node
 * agent applying the in-pod rules and handing each pod's netns to it over the
 * in-pod socket. Not wired yet: shared mode (`ambit ztunnel --mode shared
 * --node-name N --inpod-socket PATH`, NodeAgent in src/inpod/agent.ts) is being
 * built. When it lands on main, implement it here: start the two ztunnels and
 * two NodeAgents, enroll `pods`, return the ztunnel PIDs (and the agents', if
 * they run in separate processes, since they are mesh cost too).
 */
export const sharedMesh: MeshMode = async (env) => ({
  unavailable: sharedModeAvailable(env.ambit)
    ? 'ztunnel shared mode exists in this build but bench/lib/mesh.ts sharedMesh is not wired to it yet'
    : 'ztunnel shared (in-pod) mode is not in this build yet (`ambit ztunnel --inpod-socket` missing)',
});

export const MESH_MODES: Record<string, MeshMode> = {
  dedicated: dedicatedMesh,
  shared: sharedMesh,
};
