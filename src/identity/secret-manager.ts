/**
 * One workload certificate per identity, kept fresh (ztunnel's
 * identity/manager.rs semantics):
 *
 * - `fetch(id)` returns the current certificate, or fetches one now;
 *   concurrent fetches of the same identity share one CA call.
 * - `track(id)` / `untrack(id)` count the local workloads that use an
 *   identity: the first track prefetches, the last untrack drops the
 *   certificate (and its key) from memory.
 * - Each certificate is refreshed at half-life (NotBefore + lifetime/2, ±1 %
 *   jitter so a node's certificates do not all renew at once).
 * - A failed fetch is retried with jittered, capped exponential backoff
 *   (cap 150 s); meanwhile a still-valid certificate keeps being served, and
 *   without one `fetch` fails fast with the last error until a retry succeeds.
 * - Listeners hear about every new or dropped certificate, so TLS contexts can
 *   be rebuilt.
 *
 * Private keys never appear in logs, errors or {@link SecretManager.dump}.
 */
import { X509Certificate } from 'node:crypto';
import { Backoff, type BackoffOptions } from '../core/backoff.js';
import { AmbitError, errorMessage } from '../core/errors.js';
import { logger } from '../telemetry/index.js';
import { IdentityErrors } from './errors.js';
import type { SpiffeId } from './spiffe.js';

/** What the manager needs to know of a certificate (WorkloadCertificate fits). */
export interface ManagedCertificate {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Leaf PEM, used only to show the serial number in dumps. */
  readonly leafPem?: string;
}

/** Obtains a fresh certificate for an identity (the CaClient). */
export interface CertificateFetcher<C extends ManagedCertificate> {
  fetchCertificate(identity: SpiffeId): Promise<C>;
}

/** Time source and timers; tests inject a fake one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // unref: a pending refresh must not keep the process alive on shutdown.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type CertificateState =
  /** First fetch in flight, nothing to serve yet. */
  | 'initializing'
  /** A valid certificate; next refresh scheduled. */
  | 'available'
  /** A valid certificate is served while a refresh is in flight. */
  | 'refreshing'
  /** A valid certificate is served; the last refresh failed and will be retried. */
  | 'retrying'
  /** No valid certificate (never fetched, or expired); retrying. */
  | 'unavailable';

/** One row of the config dump. Never contains key material. */
export interface CertificateDump {
  identity: string;
  state: CertificateState;
  /** Workloads tracking this identity. */
  workloads: number;
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  /** When the next refresh or retry runs. */
  nextAttempt?: string;
  /** Failed attempts since the last success. */
  failures: number;
  lastError?: string;
}

export type CertificateEvent<C> =
  | { type: 'updated'; identity: SpiffeId; certificate: C }
  | { type: 'removed'; identity: SpiffeId };

export interface SecretManagerOptions<C extends ManagedCertificate> {
  fetcher: CertificateFetcher<C>;
  clock?: Clock;
  /** Random source for jitter, 0..1. Default Math.random. */
  random?: () => number;
  /** Refresh-time jitter as a fraction of the lifetime. Default 0.01 (Istio's agent). */
  refreshJitter?: number;
  /** Retry backoff. Default: 1 s initial, ×2, 20 % jitter, capped at 150 s. */
  backoff?: BackoffOptions;
}

interface Entry<C> {
  readonly identity: SpiffeId;
  refs: number;
  cert?: C;
  inflight?: Promise<C>;
  timer?: unknown;
  nextAttemptAt?: number;
  readonly backoff: Backoff;
  failures: number;
  lastError?: string;
  removed: boolean;
}

const log = logger('secret-manager');

export class SecretManager<C extends ManagedCertificate> {
  private readonly entries = new Map<string, Entry<C>>();
  private readonly listeners = new Set<(e: CertificateEvent<C>) => void>();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly jitter: number;
  private closed = false;

  constructor(private readonly opts: SecretManagerOptions<C>) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.jitter = opts.refreshJitter ?? 0.01;
  }

  /**
   * The identity's certificate: the current one while it is valid (even past
   * its refresh time), else a freshly fetched one. Concurrent calls share one
   * CA request. Rejects with `AMBIT_IDENTITY_CERT_UNAVAILABLE` when the fetch
   * fails, or at once while a retry after a failure is pending and no valid
   * certificate exists.
   */
  async fetch(identity: SpiffeId): Promise<C> {
    this.assertOpen();
    const entry = this.entry(identity);
    if (entry.cert && this.isValid(entry.cert)) return entry.cert;
    if (entry.inflight === undefined && entry.failures > 0 && entry.timer !== undefined) {
      // The CA is failing and a retry is scheduled: fail fast rather than let
      // every new connection hammer the CA (ztunnel's Unavailable state).
      throw new AmbitError(
        IdentityErrors.CERT_UNAVAILABLE,
        `no certificate for ${identity.uri}: ${entry.lastError ?? 'CA unavailable'}`,
      );
    }
    return this.attempt(entry);
  }

  /** The current valid certificate, without fetching. */
  current(identity: SpiffeId): C | undefined {
    const cert = this.entries.get(identity.uri)?.cert;
    return cert && this.isValid(cert) ? cert : undefined;
  }

  /** A workload using `identity` arrived: the first one triggers a prefetch. */
  track(identity: SpiffeId): void {
    this.assertOpen();
    const entry = this.entry(identity);
    entry.refs++;
    if (entry.refs === 1 && !entry.cert && entry.inflight === undefined) this.background(entry);
  }

  /** A workload using `identity` left: when none is left, the certificate is dropped. */
  untrack(identity: SpiffeId): void {
    const entry = this.entries.get(identity.uri);
    if (!entry || entry.refs === 0) return;
    entry.refs--;
    if (entry.refs === 0) this.remove(entry);
  }

  /** Drops the identity's certificate regardless of tracking. */
  forget(identity: SpiffeId): void {
    const entry = this.entries.get(identity.uri);
    if (entry) this.remove(entry);
  }

  /** Subscribes to certificate changes; returns the unsubscribe function. */
  onChange(listener: (e: CertificateEvent<C>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Config-dump view, sorted by identity. Never contains key material. */
  dump(): CertificateDump[] {
    return [...this.entries.values()]
      .map((e) => this.dumpEntry(e))
      .sort((a, b) => a.identity.localeCompare(b.identity));
  }

  /** Stops all timers and drops every certificate. In-flight fetches finish but are discarded. */
  close(): void {
    this.closed = true;
    for (const e of [...this.entries.values()]) this.remove(e, false);
    this.listeners.clear();
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new AmbitError(IdentityErrors.CERT_UNAVAILABLE, 'secret manager is closed');
    }
  }

  private isValid(cert: C): boolean {
    return this.clock.now() < cert.notAfter.getTime();
  }

  private entry(identity: SpiffeId): Entry<C> {
    let e = this.entries.get(identity.uri);
    if (!e) {
      e = {
        identity,
        refs: 0,
        backoff: new Backoff({ random: this.random, ...this.opts.backoff }),
        failures: 0,
        removed: false,
      };
      this.entries.set(identity.uri, e);
    }
    return e;
  }

  /** Runs a fetch whose failure is handled by the retry schedule alone. */
  private background(entry: Entry<C>): void {
    this.attempt(entry).catch(() => {
      // Recorded in entry.lastError and retried; nobody awaits a background fetch.
    });
  }

  /** Starts (or joins) a CA call for the entry. */
  private attempt(entry: Entry<C>): Promise<C> {
    if (entry.inflight !== undefined) return entry.inflight;
    this.clearTimer(entry);
    const p = this.opts.fetcher.fetchCertificate(entry.identity).then(
      (cert) => {
        entry.inflight = undefined;
        if (!entry.removed) this.store(entry, cert);
        return cert;
      },
      (err: unknown) => {
        entry.inflight = undefined;
        const reason = errorMessage(err);
        if (!entry.removed) this.failed(entry, reason);
        throw new AmbitError(
          IdentityErrors.CERT_UNAVAILABLE,
          `no certificate for ${entry.identity.uri}: ${reason}`,
          { cause: err },
        );
      },
    );
    entry.inflight = p;
    return p;
  }

  private store(entry: Entry<C>, cert: C): void {
    entry.cert = cert;
    entry.failures = 0;
    entry.lastError = undefined;
    entry.backoff.reset();
    const nb = cert.notBefore.getTime();
    const life = cert.notAfter.getTime() - nb;
    const offset = (this.random() * 2 - 1) * this.jitter * life;
    const refreshAt = nb + life / 2 + offset;
    this.schedule(entry, Math.max(0, refreshAt - this.clock.now()));
    log.info(
      {
        identity: entry.identity.uri,
        serial: serialOf(cert),
        notAfter: cert.notAfter.toISOString(),
      },
      'certificate updated',
    );
    this.emit({ type: 'updated', identity: entry.identity, certificate: cert });
  }

  private failed(entry: Entry<C>, reason: string): void {
    entry.failures++;
    entry.lastError = reason;
    const delay = entry.backoff.next();
    this.schedule(entry, delay);
    const valid = entry.cert !== undefined && this.isValid(entry.cert);
    log.warn(
      {
        identity: entry.identity.uri,
        failures: entry.failures,
        retryInMs: Math.round(delay),
        valid,
        reason,
      },
      valid ? 'certificate refresh failed; serving the current one' : 'certificate fetch failed',
    );
  }

  private schedule(entry: Entry<C>, delayMs: number): void {
    this.clearTimer(entry);
    entry.nextAttemptAt = this.clock.now() + delayMs;
    entry.timer = this.clock.setTimeout(() => {
      entry.timer = undefined;
      entry.nextAttemptAt = undefined;
      if (!entry.removed) this.background(entry);
    }, delayMs);
  }

  private clearTimer(entry: Entry<C>): void {
    if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.nextAttemptAt = undefined;
  }

  private remove(entry: Entry<C>, notify = true): void {
    entry.removed = true;
    this.clearTimer(entry);
    this.entries.delete(entry.identity.uri);
    const had = entry.cert !== undefined;
    entry.cert = undefined;
    if (had && notify) {
      log.info({ identity: entry.identity.uri }, 'certificate dropped');
      this.emit({ type: 'removed', identity: entry.identity });
    }
  }

  private emit(event: CertificateEvent<C>): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        log.error(
          { identity: event.identity.uri, err: errorMessage(err) },
          'certificate listener threw',
        );
      }
    }
  }

  private dumpEntry(e: Entry<C>): CertificateDump {
    const valid = e.cert !== undefined && this.isValid(e.cert);
    let state: CertificateState;
    if (!valid)
      state =
        e.inflight !== undefined && e.failures === 0 && !e.cert ? 'initializing' : 'unavailable';
    else if (e.inflight !== undefined) state = 'refreshing';
    else state = e.failures > 0 ? 'retrying' : 'available';
    const out: CertificateDump = {
      identity: e.identity.uri,
      state,
      workloads: e.refs,
      failures: e.failures,
    };
    if (e.cert) {
      const serial = serialOf(e.cert);
      if (serial) out.serial = serial;
      out.notBefore = e.cert.notBefore.toISOString();
      out.notAfter = e.cert.notAfter.toISOString();
    }
    if (e.nextAttemptAt !== undefined) out.nextAttempt = new Date(e.nextAttemptAt).toISOString();
    if (e.lastError !== undefined) out.lastError = e.lastError;
    return out;
  }
}

function serialOf(cert: ManagedCertificate): string | undefined {
  if (!cert.leafPem) return undefined;
  try {
    return new X509Certificate(cert.leafPem).serialNumber;
  } catch {
    return undefined;
  }
}
