/**
 * The seam between the proxy and the OS: where listeners are bound and where
 * upstream sockets come from. Dedicated mode uses the host's (or the current
 * netns's) sockets; in-pod (shared) mode plugs in a factory per pod whose
 * sockets are created inside that pod's netns (`listenIn`/`connectFrom` with
 * a netns). The proxy code never calls `net.listen`/`net.connect` itself.
 */
import net from 'node:net';
import { AmbitError, errorMessage } from '../core/errors.js';
import {
  connectFrom,
  fdOf,
  listenIn,
  type NetnsRef,
  nativeAvailable,
  type Platform,
  platform,
} from '../platform/index.js';
import { normalizeIp } from '../state/index.js';
import { logger } from '../telemetry/index.js';
import { ProxyErrors } from './errors.js';

const log = logger('proxy');

export interface ListenSpec {
  /** IP literal to bind. */
  readonly address: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** SO_REUSEPORT, so a restarted proxy can bind while the old one drains. */
  readonly reusePort?: boolean;
}

export interface DialSpec {
  readonly host: string;
  readonly port: number;
  /** Source IP; with `transparent` it may be non-local (source IP preservation). */
  readonly localAddress?: string;
  readonly transparent?: boolean;
  /** Aborting destroys the socket and rejects. */
  readonly signal: AbortSignal;
}

export interface OriginalDestination {
  readonly ip: string;
  readonly port: number;
}

/** Listeners and upstream sockets for one network namespace. */
export interface SocketFactory {
  /** Human-readable description for logs and the config dump. */
  readonly description: string;
  /** Whether listeners get SO_REUSEPORT when asked (needs the native addon). */
  readonly supportsReusePort: boolean;
  /** Whether {@link SocketFactory.originalDst} can see through a REDIRECT. */
  readonly supportsOriginalDst: boolean;
  /** A bound, listening server. Rejects with AMBIT_PROXY_LISTEN_FAILED. */
  listen(spec: ListenSpec): Promise<net.Server>;
  /** A connected socket. Rejects on error or abort. */
  dial(spec: DialSpec): Promise<net.Socket>;
  /** Where a redirected connection was going; undefined when it was not redirected. */
  originalDst(socket: net.Socket): OriginalDestination | undefined;
}

export interface NativeSocketFactoryOptions {
  /** Namespace the sockets live in; null = the current one. */
  readonly netns?: NetnsRef | null;
  /** SO_MARK on upstream sockets so capture rules let the proxy's own traffic pass. */
  readonly mark?: number;
  readonly platform?: Platform;
}

/**
 * Sockets made by the native addon: SO_REUSEPORT listeners, SO_ORIGINAL_DST,
 * SO_MARK and IP_TRANSPARENT on upstream sockets, optionally inside a netns.
 */
export class NativeSocketFactory implements SocketFactory {
  readonly supportsReusePort = true;
  readonly supportsOriginalDst = true;
  readonly description: string;
  private readonly platform: Platform;
  private readonly netns: NetnsRef | null;

  constructor(private readonly options: NativeSocketFactoryOptions = {}) {
    this.platform = options.platform ?? platform();
    this.netns = options.netns ?? null;
    this.description = `native (netns ${this.netns ?? 'current'}${options.mark === undefined ? '' : `, mark ${options.mark}`})`;
  }

  async listen(spec: ListenSpec): Promise<net.Server> {
    try {
      return await listenIn(this.netns, {
        address: spec.address,
        port: spec.port,
        family: net.isIPv6(spec.address) ? 6 : 4,
        reusePort: spec.reusePort ?? false,
        platform: this.platform,
      });
    } catch (err) {
      throw listenError(spec, err);
    }
  }

  dial(spec: DialSpec): Promise<net.Socket> {
    return connected(
      () =>
        connectFrom({
          netns: this.netns,
          host: spec.host,
          port: spec.port,
          localAddress: spec.localAddress,
          transparent: spec.transparent,
          mark: this.options.mark,
          platform: this.platform,
        }),
      spec.signal,
    );
  }

  originalDst(socket: net.Socket): OriginalDestination | undefined {
    let dst: { address: string; port: number } | undefined;
    try {
      dst = this.platform.getOriginalDst(fdOf(socket));
    } catch {
      return undefined;
    }
    const ip = normalizeIp(dst.address) ?? dst.address;
    const local = normalizeIp(socket.localAddress ?? '') ?? '';
    // Not redirected: conntrack reports the socket's own address.
    if (ip === local && dst.port === socket.localPort) return undefined;
    return { ip, port: dst.port };
  }
}

/** Plain Node sockets: no SO_REUSEPORT, no original destination, no marks. */
export class PlainSocketFactory implements SocketFactory {
  readonly description = 'plain (no native addon)';
  readonly supportsReusePort = false;
  readonly supportsOriginalDst = false;

  listen(spec: ListenSpec): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true });
      server.once('error', (err) => {
        server.close();
        reject(listenError(spec, err));
      });
      server.listen({ host: spec.address, port: spec.port }, () => {
        server.removeAllListeners('error');
        resolve(server);
      });
    });
  }

  dial(spec: DialSpec): Promise<net.Socket> {
    return connected(
      () =>
        net.connect({
          host: spec.host,
          port: spec.port,
          localAddress: spec.localAddress,
          noDelay: true,
        }),
      spec.signal,
    );
  }

  originalDst(): OriginalDestination | undefined {
    return undefined;
  }
}

/** The native factory when the addon loads, else the plain one (with a warning). */
export function hostSocketFactory(options: NativeSocketFactoryOptions = {}): SocketFactory {
  if (options.platform !== undefined || nativeAvailable()) return new NativeSocketFactory(options);
  log.warn(
    'native addon not available: no SO_REUSEPORT hand-off and no SO_ORIGINAL_DST (15001/15006 need redirection); build it with `npm run build:native`',
  );
  return new PlainSocketFactory();
}

function listenError(spec: ListenSpec, err: unknown): AmbitError {
  return new AmbitError(
    ProxyErrors.LISTEN_FAILED,
    `cannot listen on ${spec.address}:${spec.port}: ${errorMessage(err)}`,
    { cause: err, details: { address: spec.address, port: spec.port } },
  );
}

/** Resolves once `make()`'s socket is connected; destroys it on error or abort. */
function connected(make: () => net.Socket, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let socket: net.Socket;
    try {
      socket = make();
    } catch (err) {
      reject(err);
      return;
    }
    const done = (err?: unknown): void => {
      socket.off('connect', onConnect);
      socket.off('error', done);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(socket);
      else {
        socket.destroy();
        reject(err);
      }
    };
    const onConnect = (): void => done();
    const onAbort = (): void => done(signal.reason);
    socket.once('connect', onConnect);
    socket.once('error', done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
