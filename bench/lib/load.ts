// Open-loop HTTP/1.1 load at a constant rate, with latency measured from each
// request's SCHEDULED send time (no coordinated omission: a stalled
// connection makes every queued request's latency grow, as with fortio's
// `uniform`/`nocatchup`). Requests are pipelined when a response is late.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Log-linear histogram (HdrHistogram-style, ~0.1 % precision), values in µs. */
export class Histogram {
  private readonly counts = new Map<number, number>();
  total = 0;
  max = 0;

  private static bucket(us: number): number {
    if (us < 1024) return Math.max(0, Math.floor(us));
    const e = Math.floor(Math.log2(us)) - 9;
    return (e << 10) | (Math.floor(us / 2 ** e) & 1023);
  }

  /** The smallest value in bucket `b` (sub-bucket 512..1023 times 2^e). */
  private static lower(b: number): number {
    const e = b >> 10;
    return e === 0 ? b : (b & 1023) * 2 ** e;
  }

  record(us: number): void {
    const b = Histogram.bucket(us);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.total += 1;
    if (us > this.max) this.max = us;
  }

  /** Value at quantile q (0..1), µs. */
  quantile(q: number): number {
    const target = Math.ceil(q * this.total);
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b) ?? 0;
      if (seen >= target) return Histogram.lower(b);
    }
    return this.max;
  }

  summary(): { p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; n: number } {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      p50Ms: ms(this.quantile(0.5)),
      p90Ms: ms(this.quantile(0.9)),
      p99Ms: ms(this.quantile(0.99)),
      maxMs: ms(this.max),
      n: this.total,
    };
  }
}

/** Parses back-to-back HTTP/1.1 responses; calls `onResponse` per complete one. */
export function responseParser(onResponse: () => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  let need = -1;
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (need < 0) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const m = /content-length:\s*(\d+)/i.exec(head);
        need = end + 4 + Number(m?.[1] ?? 0);
      }
      if (buf.length < need) return;
      buf = buf.subarray(need);
      need = -1;
      onResponse();
    }
  };
}

export interface LoadOptions {
  /** Total requests per second across all connections. */
  rps: number;
  connections: number;
  durationMs: number;
  /** Requests in this initial window are not recorded. */
  warmupMs: number;
  request: string;
}

export interface LoadResult {
  latency: ReturnType<Histogram['summary']>;
  sent: number;
  completed: number;
}

/** Constant-rate load over `connections` keep-alive connections from `connect()`. */
export async function keepAliveLoad(
  connect: () => Promise<Socket>,
  o: LoadOptions,
): Promise<LoadResult> {
  const sockets = await Promise.all(Array.from({ length: o.connections }, connect));
  const hist = new Histogram();
  const intervalMs = 1000 / o.rps;
  const t0 = performance.now() + 20;
  const end = t0 + o.durationMs;
  const queues = sockets.map(() => [] as number[]);
  let sent = 0;
  let completed = 0;
  sockets.forEach((s, i) => {
    s.setNoDelay(true);
    s.on(
      'data',
      responseParser(() => {
        const scheduled = queues[i]?.shift();
        completed += 1;
        if (scheduled !== undefined && scheduled >= t0 + o.warmupMs) {
          hist.record((performance.now() - scheduled) * 1000);
        }
      }),
    );
  });
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = (): void => {
      const now = performance.now();
      // Send every request that is due; lateness counts against its latency.
      while (t0 + next * intervalMs <= now && t0 + next * intervalMs < end) {
        const c = next % sockets.length;
        const scheduled = t0 + next * intervalMs;
        queues[c]?.push(scheduled);
        sockets[c]?.write(o.request);
        sent += 1;
        next += 1;
      }
      if (t0 + next * intervalMs >= end) resolve();
      else setTimeout(tick, Math.max(0, Math.min(1, t0 + next * intervalMs - now)));
    };
    tick();
  });
  // Let the last responses arrive (bounded).
  const deadline = performance.now() + 5000;
  while (completed < sent && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  for (const s of sockets) s.destroy();
  return { latency: hist.summary(), sent, completed };
}

/**
 * Closed-loop load: each of `connections` keep-alive connections sends its
 * next request as soon as the previous response arrived, for `durationMs`.
 * Measures the most requests/s a path sustains (the open-loop tests measure
 * latency at a fixed rate instead).
 */
export async function closedLoopLoad(
  connect: () => Promise<Socket>,
  o: { connections: number; durationMs: number; request: string },
): Promise<{ completed: number; rps: number }> {
  const sockets = await Promise.all(Array.from({ length: o.connections }, connect));
  let completed = 0;
  let running = true;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let open = sockets.length;
    for (const s of sockets) {
      s.setNoDelay(true);
      s.on(
        'data',
        responseParser(() => {
          completed += 1;
          if (running) s.write(o.request);
          else if (--open === 0) resolve();
        }),
      );
      s.write(o.request);
    }
    setTimeout(() => {
      running = false;
    }, o.durationMs);
    // A connection that stalls must not hold the run.
    setTimeout(resolve, o.durationMs + 5000);
  });
  const seconds = (performance.now() - t0) / 1000;
  for (const s of sockets) s.destroy();
  return { completed, rps: Math.round(completed / seconds) };
}

/** Open-loop new-connection load: each scheduled request opens its own connection. */
export async function newConnectionLoad(
  connect: () => Promise<Socket>,
  o: Omit<LoadOptions, 'connections'>,
): Promise<LoadResult & { errors: number }> {
  const hist = new Histogram();
  const intervalMs = 1000 / o.rps;
  const t0 = performance.now() + 20;
  const end = t0 + o.durationMs;
  let sent = 0;
  let completed = 0;
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const one = async (scheduled: number): Promise<void> => {
    try {
      const s = await connect();
      s.setNoDelay(true);
      await new Promise<void>((resolve, reject) => {
        // A proxy that loses a request must cost an error, not hang the run.
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error('no response in 10 s'));
        }, 10_000);
        s.on(
          'data',
          responseParser(() => {
            clearTimeout(timer);
            resolve();
          }),
        );
        s.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        s.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        s.write(o.request);
      });
      s.destroy();
      completed += 1;
      if (scheduled >= t0 + o.warmupMs) hist.record((performance.now() - scheduled) * 1000);
    } catch {
      errors += 1;
    }
  };
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = (): void => {
      const now = performance.now();
      while (t0 + next * intervalMs <= now && t0 + next * intervalMs < end) {
        inflight.push(one(t0 + next * intervalMs));
        sent += 1;
        next += 1;
      }
      if (t0 + next * intervalMs >= end) resolve();
      else setTimeout(tick, Math.max(0, Math.min(1, t0 + next * intervalMs - now)));
    };
    tick();
  });
  await Promise.all(inflight);
  return { latency: hist.summary(), sent, completed, errors };
}

/**
 * Opens `n` keep-alive connections, each completing one request, and leaves
 * them open and idle (the caller closes them). At most `concurrency` are being
 * set up at a time, so TLS peers are not flooded with handshakes.
 */
export async function holdIdle(
  connect: () => Promise<Socket>,
  n: number,
  request: string,
  concurrency = 64,
): Promise<{ sockets: Socket[]; errors: number }> {
  const sockets: Socket[] = [];
  let errors = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next += 1;
      try {
        const s = await connect();
        await new Promise<void>((resolve, reject) => {
          const parse = responseParser(() => resolve());
          s.on('data', parse);
          s.once('error', reject);
          s.once('close', () => reject(new Error('closed before the response')));
          s.write(request);
        });
        s.removeAllListeners('close');
        s.removeAllListeners('error');
        s.on('error', () => {});
        sockets.push(s);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { sockets, errors };
}
