/**
 * Fixtures for HBONE integration tests: listeners on distinct 127.0.0.x
 * addresses (each models a pod IP), upstream servers, an HboneServer wired to
 * them, and a raw HTTP/2-over-TLS client for requests our client would never
 * send.
 */
import { once } from 'node:events';
import http2, { type ClientHttp2Session } from 'node:http2';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import {
  type HboneConnectContext,
  type HboneConnectDecision,
  type HboneCredentials,
  HboneServer,
  type HboneServerOptions,
  type HboneStreamOutcome,
} from '../../src/proxy/hbone/index.js';

export interface Listening {
  server: Server;
  host: string;
  port: number;
  /** Every socket accepted so far. */
  sockets: Socket[];
  close(): Promise<void>;
}

/** A TCP listener on `host:0` calling `onSocket` for each connection. */
export async function listen(host: string, onSocket: (s: Socket) => void): Promise<Listening> {
  const sockets: Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    onSocket(s);
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    server,
    host,
    port: (server.address() as AddressInfo).port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Echoes bytes; after the client's FIN writes "EOF" and ends (shows half-close both ways). */
export function startEcho(host: string): Promise<Listening> {
  return listen(host, (s) => {
    s.on('error', () => {});
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end('EOF'));
  });
}

/** A port on `host` where nothing listens. */
export async function closedPort(host: string): Promise<number> {
  const l = await listen(host, () => {});
  await l.close();
  return l.port;
}

/** Connects to ip:port and resolves once connected (what a real inbound handler does). */
export function connectUpstream(ip: string, port: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: ip, port, allowHalfOpen: true, noDelay: true });
    const onAbort = (): void => {
      s.destroy();
      reject(signal?.reason);
    };
    s.once('connect', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(s);
    });
    s.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** ztunnel's inbound behaviour: connect to the local (destination) IP at the authority port. */
export async function upstreamToTarget(ctx: HboneConnectContext): Promise<HboneConnectDecision> {
  const upstream = await connectUpstream(ctx.destination.ip, ctx.target.port, ctx.signal);
  return { upstream };
}

export interface HboneFixture {
  hbone: HboneServer;
  /** One listener per pod IP in `certs`. */
  listeners: Map<string, Listening>;
  outcomes: HboneStreamOutcome[];
  close(): Promise<void>;
}

/** An HboneServer serving `certs` (pod IP → credentials), each IP with its own listener. */
export async function startHbone(
  certs: Map<string, HboneCredentials>,
  options: Partial<HboneServerOptions> = {},
  extraIps: string[] = [],
): Promise<HboneFixture> {
  const outcomes: HboneStreamOutcome[] = [];
  const hbone = new HboneServer({
    certificateFor: (ip) => certs.get(ip),
    onConnect: upstreamToTarget,
    onStreamEnd: (o) => outcomes.push(o),
    ...options,
  });
  const listeners = new Map<string, Listening>();
  for (const ip of [...certs.keys(), ...extraIps]) {
    listeners.set(ip, await listen(ip, (s) => hbone.handle(s)));
  }
  return {
    hbone,
    listeners,
    outcomes,
    close: async () => {
      hbone.close();
      for (const l of listeners.values()) await l.close();
    },
  };
}

/** A raw mTLS HTTP/2 session (no HBONE checks), for requests HboneSession would not send. */
export async function rawH2(
  host: string,
  port: number,
  creds: Partial<Pick<HboneCredentials, 'certChainPem' | 'keyPem'>> & {
    rootsPem: readonly string[];
  },
): Promise<ClientHttp2Session> {
  const socket = tls.connect({
    host,
    port,
    servername: '',
    cert: creds.certChainPem,
    key: creds.keyPem,
    ca: [...creds.rootsPem],
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
  });
  const session = http2.connect(`https://${host}:${port}`, { createConnection: () => socket });
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
    session.once('close', () => reject(new Error('closed before SETTINGS')));
  });
  return session;
}

/** Reads a stream to its end. */
export async function readAll(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Polls `cond` every 10 ms until true; fails after `limitMs` (a hang guard, not a timing assertion). */
export async function until(cond: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
