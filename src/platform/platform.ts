import { AmbitError, CoreErrors, errorMessage } from '../core/index.js';
import { PlatformErrors } from './errors.js';
import {
  loadNative,
  type NativeAddon,
  type NativeListenOptions,
  type NativeSocketOptions,
  type OriginalDst,
} from './native.js';

/**
 * A network namespace: a name under /run/netns (`ambit-pod1`), an absolute path
 * (`/proc/123/ns/net`, `/var/run/netns/cni-…`), or an open namespace fd (what
 * the CNI agent hands over in ZDS).
 */
export type NetnsRef = string | number;

/** Directory `ip netns` keeps named namespaces in. */
export const NETNS_DIR = '/run/netns';

/** The path of a namespace reference; fds become `/proc/<our pid>/fd/<n>`. */
export function netnsPath(ref: NetnsRef): string {
  if (typeof ref === 'number') return `/proc/${process.pid}/fd/${ref}`;
  return ref.startsWith('/') ? ref : `${NETNS_DIR}/${ref}`;
}

function nativeNetns(ref: NetnsRef | null | undefined): string | number | null {
  if (ref === null || ref === undefined) return null;
  return typeof ref === 'number' ? ref : netnsPath(ref);
}

/**
 * The native seam: socket options Node lacks and sockets created inside another
 * network namespace. Everything takes raw fds (see {@link fdOf}). A fake can
 * implement this for unit tests of code above it.
 */
export interface Platform {
  /** Where a REDIRECTed connection was going (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). */
  getOriginalDst(fd: number): OriginalDst;
  setMark(fd: number, mark: number): void;
  getMark(fd: number): number;
  setTransparent(fd: number, on: boolean): void;
  getTransparent(fd: number): boolean;
  setFreebind(fd: number, on: boolean): void;
  setReusePort(fd: number, on: boolean): void;
  /**
   * A new unconnected, non-blocking TCP socket created inside `netns` (null: the
   * current one) with the options set before it sends anything. TCP_NODELAY is on.
   */
  socketInNetns(netns: NetnsRef | null, family: 4 | 6, options?: NativeSocketOptions): number;
  /** A listening TCP socket created (socket, bind, listen) inside `netns`. TCP_NODELAY is on. */
  listenInNetns(netns: NetnsRef | null, options: NativeListenOptions): number;
}

interface ErrnoLike {
  code?: unknown;
  syscall?: unknown;
}

const UNSUPPORTED_ERRNO = new Set(['ENOPROTOOPT', 'EAFNOSUPPORT', 'EOPNOTSUPP', 'EPROTONOSUPPORT']);

/** Maps an addon error to an AmbitError; argument errors (TypeError…) pass through. */
export function platformError(err: unknown, what: string): Error {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof AmbitError) {
    return err;
  }
  const e = err as ErrnoLike;
  const errno = typeof e.code === 'string' ? e.code : undefined;
  const details = { errno, syscall: typeof e.syscall === 'string' ? e.syscall : undefined };
  const msg = `${what}: ${errorMessage(err)}`;
  if (errno === 'EPERM' || errno === 'EACCES') {
    return new AmbitError(
      CoreErrors.NOT_ROOT,
      `${msg}; run as root (needs CAP_NET_ADMIN, and CAP_SYS_ADMIN to enter a netns)`,
      { cause: err, details },
    );
  }
  if (errno !== undefined && UNSUPPORTED_ERRNO.has(errno)) {
    return new AmbitError(PlatformErrors.UNSUPPORTED, `${msg}; the kernel lacks this feature`, {
      cause: err,
      details,
    });
  }
  return new AmbitError(PlatformErrors.SOCKET_FAILED, msg, { cause: err, details });
}

function call<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw platformError(err, what);
  }
}

/** The Linux implementation over the native addon. */
export class LinuxPlatform implements Platform {
  constructor(private readonly native: NativeAddon) {}

  getOriginalDst(fd: number): OriginalDst {
    return call('original destination', () => this.native.getOriginalDst(fd));
  }
  setMark(fd: number, mark: number): void {
    call('set SO_MARK', () => this.native.setMark(fd, mark));
  }
  getMark(fd: number): number {
    return call('get SO_MARK', () => this.native.getMark(fd));
  }
  setTransparent(fd: number, on: boolean): void {
    call('set IP_TRANSPARENT', () => this.native.setTransparent(fd, on));
  }
  getTransparent(fd: number): boolean {
    return call('get IP_TRANSPARENT', () => this.native.getTransparent(fd));
  }
  setFreebind(fd: number, on: boolean): void {
    call('set IP_FREEBIND', () => this.native.setFreebind(fd, on));
  }
  setReusePort(fd: number, on: boolean): void {
    call('set SO_REUSEPORT', () => this.native.setReusePort(fd, on));
  }
  socketInNetns(netns: NetnsRef | null, family: 4 | 6, options: NativeSocketOptions = {}): number {
    return call(`socket in netns ${netns ?? '(current)'}`, () =>
      this.native.socketInNetns(nativeNetns(netns), family, options),
    );
  }
  listenInNetns(netns: NetnsRef | null, options: NativeListenOptions): number {
    return call(`listen in netns ${netns ?? '(current)'}`, () =>
      this.native.listenInNetns(nativeNetns(netns), options),
    );
  }
}

let shared: Platform | undefined;

/** The process-wide platform; loads the addon on first call (throws if not built). */
export function platform(): Platform {
  shared ??= new LinuxPlatform(loadNative());
  return shared;
}
