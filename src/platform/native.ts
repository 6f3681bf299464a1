import { createRequire } from 'node:module';
import { AmbitError, errorMessage } from '../core/index.js';
import { PlatformErrors } from './errors.js';

/** A network namespace as the addon takes it: a path, an open nsfd, or null (current). */
export type NativeNetns = string | number | null;

/** Options applied to a socket before it is used (and so before its first packet). */
export interface NativeSocketOptions {
  /** SO_MARK (needs CAP_NET_ADMIN). */
  mark?: number;
  /** IP_TRANSPARENT / IPV6_TRANSPARENT: bind non-local addresses, accept TPROXY traffic. */
  transparent?: boolean;
  /** IP_FREEBIND / IPV6_FREEBIND: bind addresses not (yet) configured. */
  freebind?: boolean;
  /** SO_REUSEPORT. */
  reusePort?: boolean;
  /** IPV6_V6ONLY for IPv6 sockets. Default false (dual stack). */
  ipv6Only?: boolean;
}

export interface NativeListenOptions extends NativeSocketOptions {
  /** 4 or 6. Default 4. */
  family?: 4 | 6;
  /** IP literal. Default `0.0.0.0` / `::`. */
  address?: string;
  /** Default 0 (kernel picks). */
  port?: number;
  /** listen() backlog. Default 511 (Node's default). */
  backlog?: number;
}

export interface OriginalDst {
  address: string;
  port: number;
  family: 4 | 6;
}

/** The addon's exports (native/ambit_native.c). Errors carry `code`, `errno`, `syscall`. */
export interface NativeAddon {
  getOriginalDst(fd: number): OriginalDst;
  setMark(fd: number, mark: number): void;
  getMark(fd: number): number;
  setTransparent(fd: number, on: boolean): void;
  getTransparent(fd: number): boolean;
  setFreebind(fd: number, on: boolean): void;
  setReusePort(fd: number, on: boolean): void;
  socketInNetns(netns: NativeNetns, family: 4 | 6, options?: NativeSocketOptions): number;
  listenInNetns(netns: NativeNetns, options: NativeListenOptions): number;
}

/** Where `npm run build:native` puts the addon, relative to this file (src/ or dist/). */
const ADDON_PATH = '../../native/build/Release/ambit_native.node';

let cached: NativeAddon | undefined;

/**
 * Loads the addon on first use. Throws AMBIT_PLATFORM_NATIVE_UNAVAILABLE with the
 * fix when it is not built (or built for another Node ABI) and
 * AMBIT_PLATFORM_UNSUPPORTED on non-Linux.
 */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw new AmbitError(
      PlatformErrors.UNSUPPORTED,
      `network namespaces and in-pod capture need Linux (this is ${process.platform})`,
    );
  }
  const require = createRequire(import.meta.url);
  let path = ADDON_PATH;
  try {
    path = require.resolve(ADDON_PATH);
    cached = require(path) as NativeAddon;
    return cached;
  } catch (err) {
    throw new AmbitError(
      PlatformErrors.NATIVE_UNAVAILABLE,
      `the ambit native addon cannot be loaded from ${path} (${errorMessage(err)}); ` +
        'build it with `npm run build:native` (needs make, g++/gcc and python3; scripts/bootstrap.sh installs them)',
      { cause: err },
    );
  }
}

/** True when the addon loads. Never throws. */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
