/**
 * Node/V8 flags for ambit's long-running proxies (ztunnel, waypoint),
 * wherever ambit starts them (`ambit up`, the benchmark harness). V8 grows a
 * process's young generation to 2 × 16 MiB once a request load allocates
 * fast, and keeps it: ~25 MB of RSS per proxy for garbage that dies young
 * anyway. 2 MiB semi-spaces cost no measurable CPU at 1000 requests/s or in
 * bulk transfers (docs/performance.md, "V8 young generation"). These flags
 * only work on the command line (V8 sizes the heap at start-up); elsewhere
 * (Kubernetes) put them in NODE_OPTIONS.
 */
export const PROXY_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=2']);
