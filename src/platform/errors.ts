/** Error codes of the platform seam (native addon, namespaces, host tools, ledger). */
export const PlatformErrors = {
  /** The native addon is not built or cannot be loaded; the message names the fix. */
  NATIVE_UNAVAILABLE: 'AMBIT_PLATFORM_NATIVE_UNAVAILABLE',
  /** The kernel or OS lacks a feature ambit needs (IP_TRANSPARENT, conntrack, netns). */
  UNSUPPORTED: 'AMBIT_PLATFORM_UNSUPPORTED',
  /** A socket operation (setns, socket, bind, getsockopt, …) failed; details carry errno and call. */
  SOCKET_FAILED: 'AMBIT_PLATFORM_SOCKET_FAILED',
  /** A socket or server has no file descriptor (closed, not yet connected, or not TCP). */
  NO_FD: 'AMBIT_PLATFORM_NO_FD',
  /** A host command (`ip`, `nft`, `nsenter`) exited non-zero; the message carries its stderr. */
  COMMAND_FAILED: 'AMBIT_PLATFORM_COMMAND_FAILED',
  /** A namespace or interface name is not allowed (prefix, length, characters). */
  NAME_INVALID: 'AMBIT_PLATFORM_NAME_INVALID',
  /** A ledger file is unreadable or not a ledger. */
  LEDGER_INVALID: 'AMBIT_PLATFORM_LEDGER_INVALID',
} as const;
