/**
 * SOCKS5 outbound (15080, only with UNSTABLE_ENABLE_SOCKS5 / --socks5): an
 * explicit way into the outbound path where no traffic redirection exists
 * (RFC 1928, CONNECT only, no authentication). Domain names are resolved
 * against the mesh's services and workloads, never an outside resolver:
 * `cart`, `cart.shop`, `cart.shop.svc` and the full hostname all work from
 * the source's namespace.
 *
 * The reply is sent after the upstream is connected, so a client learns of
 * a denial or an unreachable destination from the reply code.
 */
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { AmbitError, errorMessage, isAmbitError } from '../core/errors.js';
import { type HostPort, normalizeIp } from '../state/index.js';
import type { ProxyContext } from './context.js';
import { ProxyErrors } from './errors.js';
import { HboneErrors } from './hbone/index.js';
import { type Outbound, responseFlagFor } from './outbound.js';

/** RFC 1928 §6 reply codes. */
export const Socks5Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

/** The handshake must finish within this time, ms. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Reads exactly what the SOCKS5 handshake needs, with a byte bound. */
class Reader {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.once('end', () => this.fail(new Error('client closed during the SOCKS5 handshake')));
    socket.once('close', () => this.fail(new Error('client closed during the SOCKS5 handshake')));
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf = Buffer.concat([this.buf, chunk]);
    // The handshake is at most 262 bytes; anything beyond is early app data, kept for the relay.
    if (this.buf.length > 4096) this.fail(new Error('SOCKS5 handshake too large'));
    this.waiter?.();
  };

  private fail(err: Error): void {
    this.failure ??= err;
    this.waiter?.();
  }

  async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Stops reading; returns bytes that arrived after the request (pipelined app data). */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.pause();
    return this.buf;
  }
}

function protocolError(message: string): AmbitError {
  return new AmbitError(ProxyErrors.SOCKS5_PROTOCOL, message);
}

export class Socks5Server {
  constructor(
    private readonly ctx: ProxyContext,
    private readonly outbound: Outbound,
    private readonly clusterDomain: string,
  ) {}

  /** Serves an accepted SOCKS5 socket. Never throws. */
  handle(socket: Socket): void {
    socket.on('error', () => {});
    void this.serve(socket);
  }

  private async serve(socket: Socket): Promise<void> {
    const result = this.outbound.newResult(socket);
    const timer = setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS);
    const reader = new Reader(socket);
    let upstream: Duplex;
    let early: Buffer;
    try {
      const dst = await this.handshake(socket, reader);
      clearTimeout(timer);
      try {
        upstream = await this.outbound.connect(socket, dst, result);
      } catch (err) {
        reply(socket, replyFor(err));
        throw err;
      }
      early = reader.detach();
      reply(socket, Socks5Reply.SUCCEEDED);
    } catch (err) {
      clearTimeout(timer);
      reader.detach();
      result.finish({ error: err, responseFlags: responseFlagFor(err) });
      socket.end();
      return;
    }
    if (early.length > 0) upstream.write(early);
    await this.outbound.relay(socket, upstream, result);
  }

  private async handshake(socket: Socket, reader: Reader): Promise<HostPort> {
    const [ver, nMethods] = await reader.take(2);
    if (ver !== 5) throw protocolError(`not SOCKS5 (version byte ${ver})`);
    const methods = await reader.take(nMethods ?? 0);
    if (!methods.includes(0x00)) {
      socket.write(Buffer.from([5, 0xff]));
      throw protocolError('client offers no "no authentication" method');
    }
    socket.write(Buffer.from([5, 0x00]));
    const [v, cmd, , atyp] = await reader.take(4);
    if (v !== 5) throw protocolError(`bad request version ${v}`);
    if (cmd !== 0x01) {
      reply(socket, Socks5Reply.COMMAND_NOT_SUPPORTED);
      throw protocolError(`command ${cmd} not supported (only CONNECT)`);
    }
    let host: string;
    if (atyp === 0x01) host = [...(await reader.take(4))].join('.');
    else if (atyp === 0x04) host = normalizeIp(ipv6Text(await reader.take(16))) ?? '';
    else if (atyp === 0x03) {
      const [len] = await reader.take(1);
      host = (await reader.take(len ?? 0)).toString('latin1');
    } else {
      reply(socket, Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED);
      throw protocolError(`address type ${atyp} not supported`);
    }
    const port = (await reader.take(2)).readUInt16BE(0);
    if (isIP(host) !== 0) return { ip: normalizeIp(host) ?? host, port };
    const ip = this.resolve(host, socket);
    if (ip === undefined) {
      reply(socket, Socks5Reply.HOST_UNREACHABLE);
      throw new AmbitError(
        ProxyErrors.NO_ROUTE,
        `SOCKS5: ${host} is not a service or workload in the mesh`,
      );
    }
    return { ip, port };
  }

  /** A mesh hostname → its first VIP (service) or IP (workload), from the source's namespace. */
  private resolve(name: string, socket: Socket): string | undefined {
    const { state, local } = this.ctx;
    const source = local.sourceFor(normalizeIp(socket.remoteAddress ?? '') ?? '');
    const ns = source?.namespace;
    const d = this.clusterDomain;
    const candidates = [name];
    if (ns !== undefined && !name.includes('.')) candidates.push(`${name}.${ns}.svc.${d}`);
    candidates.push(`${name}.svc.${d}`, `${name}.${d}`);
    for (const h of candidates) {
      const svc = state.services.findHostname(h, ns);
      const vip = svc?.vips.find((v) => v.network === (source?.network ?? ''));
      if (vip !== undefined) return vip.address;
      const w = state.workloads.findHostname(h)[0];
      if (w?.workloadIps[0] !== undefined) return w.workloadIps[0];
    }
    return undefined;
  }
}

function reply(socket: Socket, code: number): void {
  if (socket.destroyed || !socket.writable) return;
  // BND.ADDR 0.0.0.0:0: clients ignore it for CONNECT.
  socket.write(Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
}

function replyFor(err: unknown): number {
  if (!isAmbitError(err)) return Socks5Reply.GENERAL_FAILURE;
  if (responseFlagFor(err) === 'DENY') return Socks5Reply.NOT_ALLOWED;
  switch (err.code) {
    case ProxyErrors.NO_ROUTE:
      return Socks5Reply.HOST_UNREACHABLE;
    case ProxyErrors.UPSTREAM_CONNECT:
    case HboneErrors.DIAL_FAILED:
      return /refused/i.test(errorMessage(err))
        ? Socks5Reply.CONNECTION_REFUSED
        : Socks5Reply.HOST_UNREACHABLE;
    case HboneErrors.CONNECT_TIMEOUT:
      return Socks5Reply.NETWORK_UNREACHABLE;
    default:
      return Socks5Reply.GENERAL_FAILURE;
  }
}

function ipv6Text(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':');
}
