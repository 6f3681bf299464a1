/** The public types of the HBONE server: hooks, contexts, outcomes, stats. */
import type { IncomingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { SpiffeId } from '../../identity/index.js';
import type { RelayResult } from '../relay.js';
import type { HboneTarget, SocketAddress } from './address.js';
import type { HboneCredentials } from './identity.js';
import type { HboneSettingsInput } from './settings.js';

/** What is known about a CONNECT stream before it is accepted. */
export interface HboneStreamInfo {
  /** Per-server stream counter, for correlating logs. */
  id: number;
  /** The client's verified SPIFFE identity (from the mTLS handshake). */
  peerIdentity: SpiffeId;
  /** The identity whose certificate we served. */
  localIdentity: SpiffeId;
  /** The client's TCP address. */
  source: SocketAddress;
  /** The accepted socket's local address: the pod IP and port 15008. */
  destination: SocketAddress;
  /** Raw `:authority`, if any. */
  authority?: string;
  /** Request headers (`baggage`, `forwarded`, `traceparent`, …). */
  headers: IncomingHttpHeaders;
}

/** Passed to `onConnect` once the request passed the protocol checks. */
export interface HboneConnectContext extends HboneStreamInfo {
  authority: string;
  /** Parsed authority. For an IP target the IP equals `destination.ip` unless allowed otherwise. */
  target: HboneTarget;
  /** Aborted when the client resets the stream or the session dies before we answer. */
  signal: AbortSignal;
}

/** `onConnect`'s answer: a non-200 status, or an upstream that is already connected. */
export type HboneConnectDecision =
  | { status: number; reason?: string }
  | {
      upstream: Duplex;
      /** Sent as the 200's `baggage` header. */
      baggage?: string;
      /** Updated live by the relay (for the admin dump's connection list). */
      counters?: { bytesSent: number; bytesRecv: number };
    }
  /**
   * Terminate the tunnel here (waypoints): after the 200, `serve` owns the
   * CONNECT stream and resolves when it is finished (bytes for telemetry).
   */
  | {
      terminate: (tunnel: Duplex) => Promise<Omit<RelayResult, 'reset'> & { reset?: boolean }>;
      baggage?: string;
    };

/** Reported once per stream when it is finished (rejected, or relayed to the end). */
export interface HboneStreamOutcome {
  info: HboneStreamInfo;
  status: number;
  /** Why a non-200 was sent. */
  reason?: string;
  /** Byte counts for a 200 tunnel; `bytesSent` is client→upstream. */
  relay?: RelayResult;
}

export interface HboneServerOptions {
  /** The credentials to serve for a local (original destination) IP; undefined closes the connection. */
  certificateFor: (localIp: string) => HboneCredentials | undefined;
  /** Authorization and upstream connect. A throw counts as 503. */
  onConnect: (ctx: HboneConnectContext) => Promise<HboneConnectDecision>;
  /** Allow an authority IP other than the local IP (waypoints, app tunnels). Default: never. */
  allowForeignAuthority?: (ctx: HboneConnectContext) => boolean | Promise<boolean>;
  /** Ports never tunnelled to. Default 15001, 15006, 15008, 15080. */
  illegalPorts?: ReadonlySet<number>;
  settings?: HboneSettingsInput;
  /** TLS handshake deadline, ms. Default 10 000. */
  handshakeTimeoutMs?: number;
  /** Telemetry hook, called once per stream. Must not throw. */
  onStreamEnd?: (outcome: HboneStreamOutcome) => void;
}

export interface HboneServerStats {
  /** Sockets handed to `handle()`. */
  connections: number;
  /** Sockets closed for lack of a certificate for their local IP. */
  noCertificate: number;
  /** TLS handshakes that failed (bad cert, garbage, plaintext, timeout). */
  tlsFailures: number;
  /** Handshakes that passed TLS but failed the identity / trust-domain check. */
  identityFailures: number;
  /** HTTP/2 sessions accepted over the server's life. */
  sessions: number;
  activeSessions: number;
  activeTunnels: number;
  /** Responses sent, by status. */
  responses: Record<number, number>;
}

/** Extra facts about an accepted socket that the socket itself cannot tell. */
export interface AcceptedSocketMeta {
  /** Original destination, when it differs from the socket's local address (e.g. REDIRECT). */
  destination?: SocketAddress;
}
