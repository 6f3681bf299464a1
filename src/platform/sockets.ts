import { closeSync } from 'node:fs';
import net from 'node:net';
import { AmbitError, isAmbitError } from '../core/index.js';
import { PlatformErrors } from './errors.js';
import type { NativeListenOptions, OriginalDst } from './native.js';
import { type NetnsRef, type Platform, platform } from './platform.js';

interface HandleLike {
  _handle?: { fd?: unknown } | null;
}

/**
 * The OS file descriptor behind a net.Socket or net.Server. This is the one
 * place that reads Node's internal `_handle.fd` (stable on Linux for years).
 * Throws AMBIT_PLATFORM_NO_FD when there is none (closed, still resolving, TLS wrapper).
 */
export function fdOf(s: net.Socket | net.Server): number {
  const fd = (s as unknown as HandleLike)._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new AmbitError(
      PlatformErrors.NO_FD,
      'socket has no file descriptor (closed, not yet created, or not a plain TCP socket)',
    );
  }
  return fd;
}

export interface ListenInOptions extends NativeListenOptions {
  /** Options for `net.createServer` (noDelay is always on). */
  server?: net.ServerOpts;
  /** Platform to use. Default: the native one. */
  platform?: Platform;
}

/**
 * A net.Server listening inside `netns` (null: the current netns). The socket
 * is created natively because Node's `listen(port, host)` creates its fd on a
 * later tick, when the thread is no longer in the target netns. The server
 * keeps the netns alive until it is closed. Accepted sockets have TCP_NODELAY.
 */
export async function listenIn(
  netns: NetnsRef | null,
  options: ListenInOptions = {},
): Promise<net.Server> {
  const { server: serverOpts, platform: p = platform(), ...listen } = options;
  const fd = p.listenInNetns(netns, listen);
  const server = net.createServer({ ...serverOpts, noDelay: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    server.close();
    try {
      closeSync(fd);
    } catch {
      // already owned and closed by the server handle
    }
    throw err;
  }
  return server;
}

export interface ConnectFromOptions {
  /** Namespace to dial from. Default: the current one. */
  netns?: NetnsRef | null;
  /** Destination IP (a name is resolved in the current netns's resolver). */
  host: string;
  port: number;
  /** Source address to bind; with `transparent` it may be non-local (source IP preservation). */
  localAddress?: string;
  localPort?: number;
  /** SO_MARK, set before the SYN (e.g. 0x539 so in-pod rules let it pass). */
  mark?: number;
  /** IP_TRANSPARENT: allows binding a non-local `localAddress`. */
  transparent?: boolean;
  /** IP_FREEBIND. */
  freebind?: boolean;
  /** Address family of the socket. Default: 6 if `host` is an IPv6 literal, else 4. */
  family?: 4 | 6;
  platform?: Platform;
}

/**
 * Starts a TCP connection from inside `netns` with the given marks and flags,
 * all applied before the first packet. Returns the connecting net.Socket
 * ('connect' / 'error' as usual). TCP_NODELAY is on. Without a netns and
 * socket options this is a plain `net.connect` and needs no addon.
 */
export function connectFrom(options: ConnectFromOptions): net.Socket {
  const { netns, host, port, localAddress, localPort } = options;
  const needsNative =
    (netns !== undefined && netns !== null) ||
    options.mark !== undefined ||
    options.transparent === true ||
    options.freebind === true;
  if (!needsNative) {
    return net.connect({ host, port, localAddress, localPort, noDelay: true });
  }
  const p = options.platform ?? platform();
  const family = options.family ?? (net.isIPv6(host) ? 6 : 4);
  const fd = p.socketInNetns(netns ?? null, family, {
    mark: options.mark,
    transparent: options.transparent,
    freebind: options.freebind,
  });
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd, readable: true, writable: true });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  socket.setNoDelay(true);
  socket.connect({ host, port, localAddress, localPort, family });
  return socket;
}

const NOT_REDIRECTED = new Set(['ENOENT', 'ENOPROTOOPT']);

/**
 * Where a REDIRECTed connection was going, or undefined when it was not
 * redirected: no NAT entry (the client connected to the listener directly), or
 * no conntrack in the kernel at all (then nothing can have been redirected).
 */
export function originalDst(socket: net.Socket, p: Platform = platform()): OriginalDst | undefined {
  try {
    return p.getOriginalDst(fdOf(socket));
  } catch (err) {
    if (isAmbitError(err) && NOT_REDIRECTED.has(err.details.errno as string)) return undefined;
    throw err;
  }
}
