/** Error codes of the L4 proxy (outbound, inbound, SOCKS5, listeners). See docs/errors.md. */
export const ProxyErrors = {
  /** The source workload of an outbound connection did not show up in config in time. */
  WORKLOAD_UNKNOWN: 'AMBIT_PROXY_WORKLOAD_UNKNOWN',
  /** The workload's certificate was not available in time. */
  CERT_UNAVAILABLE: 'AMBIT_PROXY_CERT_UNAVAILABLE',
  /** The routing decision found no usable upstream (no healthy endpoint, unknown waypoint). */
  NO_ROUTE: 'AMBIT_PROXY_NO_ROUTE',
  /** The connection was denied by an authorization policy. */
  DENIED: 'AMBIT_PROXY_DENIED',
  /** A plain TCP connection to the upstream (app or non-mesh destination) failed. */
  UPSTREAM_CONNECT: 'AMBIT_PROXY_UPSTREAM_CONNECT',
  /** A captured connection's original destination could not be determined. */
  ORIGINAL_DST: 'AMBIT_PROXY_ORIGINAL_DST',
  /** A SOCKS5 client spoke something the server does not support. */
  SOCKS5_PROTOCOL: 'AMBIT_PROXY_SOCKS5_PROTOCOL',
  /** A live connection was closed because a policy change now denies it. */
  POLICY_CLOSED: 'AMBIT_PROXY_POLICY_CLOSED',
  /** A data-plane listener could not bind its address. */
  LISTEN_FAILED: 'AMBIT_PROXY_LISTEN_FAILED',
  /** HBONE to a waypoint-fronted port that did not come from the waypoint (bypass prevention). */
  WAYPOINT_BYPASS: 'AMBIT_PROXY_WAYPOINT_BYPASS',
  /** The proxy is draining and closed the connection at the deadline. */
  DRAINED: 'AMBIT_PROXY_DRAINED',
} as const;
