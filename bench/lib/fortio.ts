// Open-loop load from fortio (fortio.org), the load generator Istio's own
// performance tests use, in its own process: `-uniform -nocatchup` spreads
// the connections' requests evenly at exactly the given rate, as Istio's
// benchmarks run it. Its Go timers are finer than Node's 1 ms ones, and the
// load no longer shares an event loop with the backend, so the latency read
// is the path's, not the load generator's jitter.
//
// fortio is an external peer, like stunnel and haproxy: `scripts/build-fortio.sh`
// builds it with the Go toolchain into bench/.tools/ (not needed by CI's core suite).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadResult } from './load.js';

/** Where scripts/build-fortio.sh puts it. */
export const FORTIO_BIN = new URL('../.tools/fortio', import.meta.url).pathname;

/** The fortio binary to use: `FORTIO` in the environment, then bench/.tools/fortio. */
export function fortioPath(): string | undefined {
  const p = process.env.FORTIO ?? FORTIO_BIN;
  return existsSync(p) ? p : undefined;
}

interface FortioJson {
  DurationHistogram: {
    Count: number;
    Max: number;
    Percentiles: { Percentile: number; Value: number }[];
  };
  RetCodes: Record<string, number>;
}

export interface FortioOptions {
  readonly rps: number;
  readonly connections: number;
  readonly durationMs: number;
  readonly host: string;
  readonly path: string;
  /** A command fortio runs under, e.g. ['taskset', '-c', '0'] to pin it to a CPU. */
  readonly wrap?: readonly string[];
}

/** Runs fortio against 127.0.0.1:`port`; non-200 answers count as not completed. */
export async function fortioLoad(bin: string, port: number, o: FortioOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-fortio-'));
  const out = join(dir, 'result.json');
  try {
    const [cmd, ...pre] = o.wrap && o.wrap.length > 0 ? [...o.wrap, bin] : [bin];
    await new Promise<void>((resolve, reject) =>
      execFile(
        cmd as string,
        [
          ...pre,
          'load',
          '-quiet',
          '-qps',
          String(o.rps),
          '-c',
          String(o.connections),
          '-t',
          `${o.durationMs}ms`,
          '-uniform',
          '-nocatchup',
          '-p',
          '50,90,99',
          // Histogram resolution: the default (1 ms) would interpolate
          // sub-millisecond loopback latencies inside one bucket.
          '-r',
          '0.000005',
          '-H',
          `Host: ${o.host}`,
          '-json',
          out,
          `http://127.0.0.1:${port}${o.path}`,
        ],
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    const r = JSON.parse(readFileSync(out, 'utf8')) as FortioJson;
    const pct = (p: number) =>
      (r.DurationHistogram.Percentiles.find((x) => x.Percentile === p)?.Value ?? Number.NaN) * 1000;
    const n = r.DurationHistogram.Count;
    return {
      latency: {
        p50Ms: pct(50),
        p90Ms: pct(90),
        p99Ms: pct(99),
        maxMs: r.DurationHistogram.Max * 1000,
        n,
      },
      sent: n,
      completed: r.RetCodes['200'] ?? 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
