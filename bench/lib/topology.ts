// The benchmark's own little cluster: two "node" network namespaces joined by
// a veth (10.79.0.1 ↔ 10.79.0.2), each with a bridge its pods hang off
// (node 1: 10.79.1.0/24, node 2: 10.79.2.0/24, gateway .1). Pods are network
// namespaces with one veth (eth0) and a default route through their node.
// Everything (namespaces, processes) goes through a Ledger, so a crash or
// Ctrl-C still removes it all; see bench/run.ts for the signal hooks.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { basename, join } from 'node:path';
import {
  cleanupLedger,
  cleanupLedgerSync,
  connectFrom,
  createNetns,
  createVeth,
  execIn,
  Ledger,
  setSysctl,
  spawnIn,
} from '../../src/platform/index.js';

export interface Pod {
  name: string;
  node: BenchNode;
  netns: string;
  ip: string;
}

export interface BenchNode {
  name: string;
  index: 1 | 2;
  netns: string;
  /** Address on the node-to-node link. */
  ip: string;
  gateway: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Topology {
  readonly ledger: Ledger;
  readonly nodes: [BenchNode, BenchNode];
  private readonly procs = new Set<ChildProcess>();
  private readonly prefix: string;
  private hostCounter = [0, 10, 10];
  private podCount = 0;

  private constructor(ledger: Ledger, prefix: string) {
    this.ledger = ledger;
    this.prefix = prefix;
    this.nodes = [1, 2].map((i) => ({
      name: `node-${i}`,
      index: i as 1 | 2,
      netns: `${prefix}-n${i}`,
      ip: `10.79.0.${i}`,
      gateway: `10.79.${i}.1`,
    })) as [BenchNode, BenchNode];
  }

  static async create(ledgerDir: string): Promise<Topology> {
    const id = process.pid.toString(36);
    const t = new Topology(Ledger.create({ dir: ledgerDir, runId: `bench-${id}` }), `ambit-b${id}`);
    const [n1, n2] = t.nodes;
    for (const n of t.nodes) {
      await createNetns(t.ledger, n.netns);
      await setSysctl(n.netns, 'net.ipv4.ip_forward', '1');
      // The bridge lives and dies with the node netns, so it needs no ledger entry.
      await execIn(n.netns, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
      await execIn(n.netns, 'ip', ['addr', 'add', `${n.gateway}/24`, 'dev', 'br0']);
      await execIn(n.netns, 'ip', ['link', 'set', 'br0', 'up']);
    }
    await createVeth(t.ledger, {
      name: 'eth0',
      netns: n1.netns,
      address: `${n1.ip}/24`,
      peer: 'eth0',
      peerNetns: n2.netns,
      peerAddress: `${n2.ip}/24`,
    });
    await execIn(n1.netns, 'ip', ['route', 'add', '10.79.2.0/24', 'via', n2.ip]);
    await execIn(n2.netns, 'ip', ['route', 'add', '10.79.1.0/24', 'via', n1.ip]);
    return t;
  }

  /** A pod netns on `node` with the next free address of the node's pod subnet. */
  async addPod(node: BenchNode, name: string): Promise<Pod> {
    const host = (this.hostCounter[node.index] ?? 0) + 1;
    this.hostCounter[node.index] = host;
    if (host > 250) throw new Error('pod subnet full');
    const ip = `10.79.${node.index}.${host}`;
    const netns = `${this.prefix}-${name}`;
    await createNetns(this.ledger, netns);
    const port = `p${this.podCount++}`;
    await createVeth(this.ledger, {
      name: 'eth0',
      netns,
      address: `${ip}/24`,
      peer: port,
      peerNetns: node.netns,
    });
    await execIn(node.netns, 'ip', ['link', 'set', port, 'master', 'br0']);
    await execIn(netns, 'ip', ['route', 'add', 'default', 'via', node.gateway]);
    return { name, node, netns, ip };
  }

  /** Where spawned processes' output goes (one file per process), if set. */
  logDir?: string;
  private spawned = 0;

  spawn(netns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    let stdio: SpawnOptions['stdio'] = 'ignore';
    if (this.logDir) {
      mkdirSync(this.logDir, { recursive: true });
      const fd = openSync(join(this.logDir, `${this.spawned++}-${basename(cmd)}.log`), 'a');
      stdio = ['ignore', fd, fd];
    }
    const c = spawnIn(this.ledger, netns, cmd, args, { stdio, ...opts });
    if (Array.isArray(stdio)) closeSync(stdio[1] as number);
    this.procs.add(c);
    c.once('exit', () => this.procs.delete(c));
    return c;
  }

  processByPid(pid: number): ChildProcess | undefined {
    for (const c of this.procs) if (c.pid === pid) return c;
    return undefined;
  }

  /** Stops one process we started (SIGTERM, then SIGKILL after 2 s). */
  async stop(c: ChildProcess): Promise<void> {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.procs].map((c) => this.stop(c)));
    await cleanupLedger(this.ledger);
  }

  /** For signal/exit handlers: kill what we started and remove everything, synchronously. */
  destroySync(): void {
    for (const c of this.procs) if (c.exitCode === null) c.kill('SIGKILL');
    cleanupLedgerSync(this.ledger);
  }
}

/** A connect() for the load generators: a TCP connection from inside `netns`. */
export function dialer(netns: string, host: string, port: number, mark?: number) {
  return () =>
    new Promise<Socket>((resolve, reject) => {
      const s = connectFrom({ netns, host, port, mark });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
}

/** Waits until `host:port` accepts a TCP connection from `netns`. */
export async function waitPort(
  netns: string,
  host: string,
  port: number,
  opts: { mark?: number; timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    try {
      const s = await dialer(netns, host, port, opts.mark)();
      s.destroy();
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${host}:${port} in ${netns} never came up: ${err}`);
      await sleep(50);
    }
  }
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const f = readProc(`/proc/${pid}/stat`);
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size in MB (VmRSS). */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readProc(`/proc/${pid}/status`));
    return Number(m?.[1] ?? Number.NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

function readProc(path: string): string {
  return readFileSync(path, 'utf8');
}
