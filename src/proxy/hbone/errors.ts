/** Error codes of the HBONE client, server and pool (catalogued in docs/errors.md). */
export const HboneErrors = {
  /** TCP connect to port 15008 (or the whole session set-up) did not finish in time. */
  CONNECT_TIMEOUT: 'AMBIT_HBONE_CONNECT_TIMEOUT',
  /** The TCP connection to the peer's HBONE port failed (refused, unreachable). */
  DIAL_FAILED: 'AMBIT_HBONE_DIAL_FAILED',
  /** The TLS handshake failed: bad chain, alert from the peer, wrong protocol. */
  TLS_HANDSHAKE: 'AMBIT_HBONE_TLS_HANDSHAKE',
  /** TLS worked but the HTTP/2 session did not start (no ALPN h2, no SETTINGS, early close). */
  H2_HANDSHAKE: 'AMBIT_HBONE_H2_HANDSHAKE',
  /** The peer answered the CONNECT with a status other than 200 (`details.status`). */
  CONNECT_REJECTED: 'AMBIT_HBONE_CONNECT_REJECTED',
  /** The CONNECT stream was reset or its session died before the response. */
  STREAM_FAILED: 'AMBIT_HBONE_STREAM_FAILED',
  /** The HBONE session is closed, closing (GOAWAY) or failed its PING keepalive. */
  SESSION_CLOSED: 'AMBIT_HBONE_SESSION_CLOSED',
  /** The HBONE server has no certificate for the local (destination) IP of a connection. */
  NO_CERTIFICATE: 'AMBIT_HBONE_NO_CERTIFICATE',
  /** The pool or server is draining and takes no new work. */
  DRAINING: 'AMBIT_HBONE_DRAINING',
} as const;
