/**
 * Runs each pod's containers as host processes inside the pod's netns
 * (`ip netns exec`, so the pod's hosts file and resolv.conf are bind-mounted
 * over /etc), restarts them with capped backoff when they exit, keeps their
 * output in a log file per pod, and reports readiness (process alive and its
 * TCP containerPorts listening inside the pod's netns, or, for a container
 * with an HTTP readiness probe, the probe answering 2xx/3xx there).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { processEnv } from '../config/index.js';
import { Backoff } from '../core/backoff.js';
import { errorMessage } from '../core/errors.js';
import { type Ledger, type LedgerEntry, processStartTime } from '../platform/index.js';
import { probeHttp } from './probe.js';
import type { ContainerPlan, PodPlan } from './topology.js';

/** Backoff between restarts: 500 ms doubling to 30 s (kubelet caps at 5 min; a dev loop wants less). */
export const RESTART_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;
/** A container that ran this long before exiting restarts without accumulated backoff. */
const STABLE_MS = 10_000;

export function podLogPath(logDir: string, namespace: string, pod: string): string {
  return join(logDir, `${namespace}_${pod}.log`);
}

/** TCP ports in LISTEN state in the netns of `pid` (from /proc/<pid>/net/tcp{,6}). */
export function listeningPorts(pid: number): Set<number> {
  const ports = new Set<number>();
  for (const f of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${f}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] !== '0A') continue; // TCP_LISTEN
      const port = cols[1]?.split(':')[1];
      if (port) ports.add(Number.parseInt(port, 16));
    }
  }
  return ports;
}

export interface ContainerStatus {
  name: string;
  pid?: number;
  restarts: number;
  lastExit?: string;
  ready: boolean;
}

/** Where a supervised process runs: a netns (entered with `ip netns exec`) and its hostname. */
export interface ProcessHost {
  netns: string;
  name: string;
}

/**
 * One supervised process (a pod's container, or a mesh process such as the
 * control plane or a node's ztunnel): started in its netns, restarted with
 * capped backoff when it exits, output appended to one log file, pid in the
 * ledger while it runs.
 */
export class ProcessRunner {
  child?: ChildProcess;
  restarts = 0;
  lastExit?: string;
  private startedAt = 0;
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private readonly backoff = new Backoff(RESTART_BACKOFF);
  private entry?: LedgerEntry;
  private probeTimer?: NodeJS.Timeout;
  private probeOk = false;

  constructor(
    private readonly ledger: Ledger,
    private readonly pod: ProcessHost,
    readonly spec: ContainerPlan,
    private readonly logPath: string,
  ) {}

  start(): void {
    if (this.stopping) return;
    const fd = openSync(this.logPath, 'a', 0o600);
    const [cmd, ...args] = this.spec.argv;
    const base = processEnv();
    const env = {
      PATH: base.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: '/root',
      HOSTNAME: this.pod.name,
      ...this.spec.env,
    };
    let child: ChildProcess;
    try {
      child = spawn('ip', ['netns', 'exec', this.pod.netns, cmd ?? 'true', ...args], {
        cwd: this.spec.workingDir,
        env,
        stdio: ['ignore', fd, fd],
        // Own process group: stop() signals the container's whole tree.
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    this.startedAt = Date.now();
    const pid = child.pid;
    const startTime = pid === undefined ? undefined : processStartTime(pid);
    if (pid !== undefined && startTime !== undefined) {
      this.entry = { kind: 'pid', pid, startTime, command: this.spec.argv.join(' ') };
      this.ledger.record(this.entry);
    }
    this.startProbe();
    child.on('error', (err) => this.exited(`failed to start: ${errorMessage(err)}`));
    child.on('exit', (code, signal) =>
      this.exited(signal ? `killed by ${signal}` : `exit code ${code}`),
    );
  }

  /** The HTTP readiness probe, once a second while the process runs (as the kubelet's periodSeconds: 1). */
  private startProbe(): void {
    const r = this.spec.readiness;
    if (r === undefined || this.probeTimer) return;
    let inFlight = false;
    this.probeTimer = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      void probeHttp(this.pod.netns, '127.0.0.1', r.port, r.path)
        .then((code) => {
          this.probeOk = code !== undefined && code >= 200 && code < 400;
        })
        .finally(() => {
          inFlight = false;
        });
    }, 1000);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    this.probeOk = false;
  }

  private exited(why: string): void {
    this.stopProbe();
    if (this.entry) this.ledger.forget(this.entry);
    this.entry = undefined;
    if (this.child === undefined) return; // already handled ('error' then 'exit')
    this.child = undefined;
    this.lastExit = why;
    if (this.stopping) return;
    if (Date.now() - this.startedAt > STABLE_MS) this.backoff.reset();
    const delay = Math.round(this.backoff.next());
    this.restarts++;
    this.note(
      `container ${this.spec.name} ${why}; restarting in ${delay} ms (restart ${this.restarts})`,
    );
    this.timer = setTimeout(() => this.start(), delay);
  }

  /** Appends an `[ambit]` line to the process's log. */
  note(line: string): void {
    const fd = openSync(this.logPath, 'a', 0o600);
    try {
      writeSync(fd, `[ambit] ${new Date().toISOString()} ${line}\n`);
    } finally {
      closeSync(fd);
    }
  }

  ready(): boolean {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null) return false;
    if (this.spec.readiness !== undefined) return this.probeOk;
    const want = this.spec.ports.filter((p) => p.protocol === 'TCP').map((p) => p.containerPort);
    if (want.length === 0) return true;
    const have = listeningPorts(pid);
    return want.every((p) => have.has(p));
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopProbe();
    const child = this.child;
    if (!child || child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    }, graceMs);
    await gone;
    clearTimeout(t);
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** Supervises every pod of a run. */
export class Supervisor {
  private readonly runners = new Map<string, ProcessRunner[]>();

  constructor(
    private readonly ledger: Ledger,
    pods: readonly PodPlan[],
    readonly logDir: string,
  ) {
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    for (const p of pods) this.track(p);
  }

  private track(p: PodPlan): ProcessRunner[] {
    const path = podLogPath(this.logDir, p.namespace, p.name);
    const rs = p.containers.map((c) => new ProcessRunner(this.ledger, p, c, path));
    this.runners.set(key(p), rs);
    return rs;
  }

  start(): void {
    for (const rs of this.runners.values()) for (const r of rs) r.start();
  }

  /** Starts the containers of a pod added at runtime (its netns must exist). */
  addPod(pod: PodPlan): void {
    if (this.runners.has(key(pod))) throw new Error(`pod ${key(pod)} is already supervised`);
    for (const r of this.track(pod)) r.start();
  }

  /**
   * Stops a pod's containers (SIGTERM, SIGKILL after `graceMs`) and forgets
   * the pod; its log file stays. Resolves when every process has exited.
   */
  async removePod(pod: PodPlan, graceMs = 5000): Promise<void> {
    const rs = this.runners.get(key(pod)) ?? [];
    await Promise.all(rs.map((r) => r.stop(graceMs)));
    this.runners.delete(key(pod));
  }

  status(pod: PodPlan): { ready: boolean; restarts: number; containers: ContainerStatus[] } {
    const rs = this.runners.get(key(pod)) ?? [];
    const containers = rs.map((r) => ({
      name: r.spec.name,
      pid: r.child?.pid,
      restarts: r.restarts,
      lastExit: r.lastExit,
      ready: r.ready(),
    }));
    return {
      ready: containers.every((c) => c.ready),
      restarts: containers.reduce((n, c) => n + c.restarts, 0),
      containers,
    };
  }

  /** Stops every container (SIGTERM, then SIGKILL after `graceMs`, default 5000). */
  async stop(graceMs = 5000): Promise<void> {
    await Promise.all([...this.runners.values()].flat().map((r) => r.stop(graceMs)));
  }
}

function key(p: PodPlan): string {
  return `${p.namespace}/${p.name}`;
}
