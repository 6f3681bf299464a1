/**
 * Node/V8 flags for ambit's long-running proxies (ztunnel, waypoint),
 * wherever ambit starts them (`ambit up`, the benchmark harness):
 *
 * - V8 grows a process's young generation to 2 × 16 MiB once a request load
 *   allocates fast, and keeps it: ~25 MB of RSS per proxy for garbage that
 *   dies young anyway. 2 MiB semi-spaces cost no measurable CPU at 1000
 *   requests/s or in bulk transfers.
 * - Small semi-spaces promote more short-lived objects, and V8 lets a small
 *   old generation grow to several times its live size before a full GC;
 *   a growth factor of 1.5 keeps the waypoint's peak ~10 MB lower, again at
 *   no measurable CPU (docs/performance.md, "V8 heap").
 *
 * These flags only work on the command line (V8 sizes the heap at start-up);
 * where something else starts the process (Kubernetes), put them in
 * NODE_OPTIONS. `AMBIT_PROXY_NODE_FLAGS` (space-separated; empty for none)
 * replaces them.
 */
const DEFAULT_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=50'];

function fromEnv(): readonly string[] {
  const v = process.env.AMBIT_PROXY_NODE_FLAGS;
  if (v === undefined) return DEFAULT_FLAGS;
  return v.split(/\s+/).filter((f) => f !== '');
}

export const PROXY_NODE_FLAGS: readonly string[] = Object.freeze([...fromEnv()]);
