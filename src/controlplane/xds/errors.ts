export const XdsServerErrors = {
  /** A client (xDS stream or debug endpoint) presented no or bad credentials. */
  UNAUTHENTICATED: 'AMBIT_XDS_SERVER_UNAUTHENTICATED',
  /** The server is draining and refuses new xDS streams (gRPC UNAVAILABLE); clients reconnect elsewhere. */
  DRAINING: 'AMBIT_XDS_SERVER_DRAINING',
  /**
   * The control plane has not published its first config yet (gRPC UNAVAILABLE). Serving an
   * empty cache would tell a reconnecting proxy to remove everything it holds.
   */
  NOT_READY: 'AMBIT_XDS_SERVER_NOT_READY',
  /** A client sent a request the protocol does not allow (e.g. no type_url); the stream is closed. */
  BAD_REQUEST: 'AMBIT_XDS_SERVER_BAD_REQUEST',
} as const;
