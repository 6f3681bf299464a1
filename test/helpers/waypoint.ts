/**
 * Black-box fixtures for the waypoint: `ambit waypoint run` as a child
 * process (so its memory can be read from /proc), a mesh client that opens
 * HBONE CONNECT tunnels to it with a certificate from the same file CA, and
 * byte-level helpers to speak HTTP/1.1 and HTTP/2 inside a tunnel. Nothing
 * here knows the waypoint's internals: tests observe statuses, closes,
 * GOAWAY codes, backend counters and RSS, so they hold for any engine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ClientHttp2Stream } from 'node:http2';
import type { TestContext } from 'node:test';
import { FileCaFetcher } from '../../src/app/index.js';
import { SpiffeId } from '../../src/identity/index.js';
import { type HboneSession, hboneCredentials, openSession } from '../../src/proxy/hbone/index.js';

const BIN = new URL('../../bin/ambit.js', import.meta.url).pathname;

export interface WaypointProcess {
  readonly pid: number;
  readonly ip: string;
  readonly port: number;
  /** VmRSS of the waypoint process, KiB. */
  rssKib(): number;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Everything it logged so far (pino JSON lines on stderr). */
  log(): string;
}

export interface WaypointProcessOptions {
  ip: string;
  namespace: string;
  name?: string;
  /** `--local-config` file. */
  config: string;
  caDir: string;
  /** Extra CLI flags, e.g. ['--headers-timeout', '2s']. */
  args?: string[];
  env?: Record<string, string>;
}

/** Memory of a process from /proc (KiB); 0 once it is gone. */
export function procRssKib(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Starts `ambit waypoint run` on `ip:15008` and resolves once it logged
 * "waypoint ready". The process is stopped (SIGTERM, then SIGKILL by pid)
 * after the test.
 */
export async function spawnWaypoint(
  t: TestContext,
  o: WaypointProcessOptions,
): Promise<WaypointProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      BIN,
      'waypoint',
      'run',
      '--name',
      o.name ?? 'waypoint',
      '--namespace',
      o.namespace,
      '--local-config',
      o.config,
      '--ca-dir',
      o.caDir,
      '--bind-address',
      o.ip,
      '--admin-port',
      '0',
      '--metrics-port',
      '0',
      '--readiness-port',
      '0',
      ...(o.args ?? []),
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        NODE_V8_COVERAGE: '',
        CONNECTION_TERMINATION_DEADLINE: '1s',
        ...o.env,
      },
    },
  );
  const pid = child.pid ?? 0;
  let log = '';
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  t.after(async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  });
  await new Promise<void>((resolve, reject) => {
    const guard = setTimeout(
      () => reject(new Error(`waypoint not ready after 60 s:\n${log.slice(-4000)}`)),
      60_000,
    );
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => {
      log += c;
      if (log.length > 4_000_000) log = log.slice(-1_000_000);
      if (/"msg":"waypoint ready"/.test(log)) {
        clearTimeout(guard);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(guard);
      reject(new Error(`waypoint exited (${code}) before ready:\n${log.slice(-4000)}`));
    });
  });
  return {
    pid,
    ip: o.ip,
    port: 15008,
    rssKib: () => procRssKib(pid),
    alive: () => !exited && procRssKib(pid) > 0,
    log: () => log,
  };
}

/** A mesh workload that talks HBONE to the waypoint with its own certificate. */
export interface MeshClient {
  /** A new HBONE session (one mTLS connection) to the waypoint. */
  session(): Promise<HboneSession>;
  /** A CONNECT tunnel to `authority` (`VIP:port`) on `session`. */
  tunnel(session: HboneSession, authority: string): Promise<ClientHttp2Stream>;
}

/** A client identity from the waypoint's file CA (`spiffe://cluster.local/ns/<ns>/sa/<sa>`). */
export async function meshClient(
  caDir: string,
  waypoint: { ip: string; port: number },
  ns: string,
  sa: string,
  waypointSa = 'waypoint',
): Promise<MeshClient> {
  const fetcher = new FileCaFetcher(caDir, 3_600_000);
  const credentials = hboneCredentials(
    await fetcher.fetchCertificate(SpiffeId.forWorkload('cluster.local', ns, sa)),
  );
  const expected = [SpiffeId.forWorkload('cluster.local', ns, waypointSa)];
  return {
    session: () =>
      openSession({
        address: { host: waypoint.ip, port: waypoint.port },
        credentials,
        expectedIdentities: expected,
        connectTimeoutMs: 10_000,
      }),
    async tunnel(session, authority) {
      const s = await session.connect({ authority });
      s.on('error', () => {});
      return s;
    },
  };
}

/** How a tunnel ended, as its client sees it. */
export interface TunnelResult {
  data: Buffer;
  /** 'end': the waypoint finished its side (END_STREAM); 'reset': RST_STREAM or session gone. */
  how: 'end' | 'reset';
}

/**
 * Collects what the waypoint sends on `tunnel` until it finishes or resets
 * its side. Rejects after `limitMs` (a hang guard, not a timing assertion).
 */
export function collect(tunnel: ClientHttp2Stream, limitMs = 30_000): Promise<TunnelResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let ended = false;
    const guard = setTimeout(() => {
      tunnel.destroy();
      reject(
        new Error(
          `tunnel still open after ${limitMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))}`,
        ),
      );
    }, limitMs);
    tunnel.on('data', (c: Buffer) => chunks.push(c));
    tunnel.once('end', () => {
      ended = true;
      clearTimeout(guard);
      resolve({ data: Buffer.concat(chunks), how: 'end' });
      // Our side is done too: finish the stream cleanly.
      tunnel.end();
    });
    tunnel.once('close', () => {
      clearTimeout(guard);
      if (!ended) resolve({ data: Buffer.concat(chunks), how: 'reset' });
    });
  });
}

/** One parsed HTTP/1.1 response. */
export interface H1Response {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Reads HTTP/1.1 responses off a byte stream (content-length, chunked, or
 * until close), for a client that speaks raw bytes on a tunnel.
 */
export class H1Reader {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private done = false;

  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake();
    });
    const finish = () => {
      this.done = true;
      this.wake();
    };
    stream.on('end', finish);
    stream.on('close', finish);
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  private async more(): Promise<void> {
    if (this.done) throw new Error('stream closed mid-response');
    await new Promise<void>((r) => {
      this.waiting = r;
    });
  }

  private async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) await this.more();
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  private async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) return (await this.take(i + 2)).subarray(0, i).toString('latin1');
      await this.more();
    }
  }

  /** The next response; `head` for a response to HEAD (no body). */
  async next(head = false): Promise<H1Response> {
    const statusLine = await this.line();
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (let l = await this.line(); l !== ''; l = await this.line()) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const status = Number(m[1]);
    let body: Buffer = Buffer.alloc(0);
    if (head || status === 204 || status === 304) return { status, headers, body };
    if (headers['content-length'] !== undefined) {
      body = await this.take(Number(headers['content-length']));
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      for (;;) {
        const size = Number.parseInt(await this.line(), 16);
        if (size === 0) {
          while ((await this.line()) !== '');
          break;
        }
        parts.push(await this.take(size));
        await this.line();
      }
      body = Buffer.concat(parts);
    } else {
      while (!this.done) await this.more().catch(() => {});
      body = this.buf;
      this.buf = Buffer.alloc(0);
    }
    return { status, headers, body };
  }
}

/** A parsed HTTP/2 frame. */
export interface H2Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export const H2 = {
  PREFACE: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
  END_STREAM: 0x1,
  END_HEADERS: 0x4,
  /** Error codes (RFC 9113 §7). */
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

/** One raw HTTP/2 frame. */
export function h2Frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/**
 * An HPACK header block without Huffman coding or indexing (RFC 7541 §6.2.2:
 * literal, new name), so tests need no encoder.
 */
export function hpack(headers: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  const str = (s: string) => {
    const b = Buffer.from(s, 'latin1');
    if (b.length >= 127) {
      // 7-bit prefix integer, continued.
      const bytes = [0x7f];
      let v = b.length - 127;
      while (v >= 128) {
        bytes.push((v % 128) + 128);
        v = Math.floor(v / 128);
      }
      bytes.push(v);
      return Buffer.concat([Buffer.from(bytes), b]);
    }
    return Buffer.concat([Buffer.from([b.length]), b]);
  };
  for (const [k, v] of headers) parts.push(Buffer.from([0x00]), str(k), str(v));
  return Buffer.concat(parts);
}

/** Splits HTTP/2 bytes (the server side of a tunnel) into frames; a trailing partial frame is ignored. */
export function h2Frames(data: Buffer): H2Frame[] {
  const out: H2Frame[] = [];
  let i = 0;
  while (i + 9 <= data.length) {
    const len = data.readUIntBE(i, 3);
    if (i + 9 + len > data.length) break;
    out.push({
      type: data[i + 3] as number,
      flags: data[i + 4] as number,
      stream: data.readUInt32BE(i + 5) & 0x7fffffff,
      payload: data.subarray(i + 9, i + 9 + len),
    });
    i += 9 + len;
  }
  return out;
}

/** The error code of the first GOAWAY among `frames`, if any. */
export function goawayCode(frames: H2Frame[]): number | undefined {
  const g = frames.find((f) => f.type === H2.GOAWAY);
  return g ? g.payload.readUInt32BE(4) : undefined;
}
