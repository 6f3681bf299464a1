export { PlatformErrors } from './errors.js';
export {
  loadNative,
  type NativeListenOptions,
  type NativeSocketOptions,
  nativeAvailable,
  type OriginalDst,
} from './native.js';
export {
  LinuxPlatform,
  NETNS_DIR,
  type NetnsRef,
  netnsPath,
  type Platform,
  platform,
  platformError,
} from './platform.js';
export {
  type ConnectFromOptions,
  connectFrom,
  fdOf,
  type ListenInOptions,
  listenIn,
  originalDst,
} from './sockets.js';
