/**
 * The one error family of ambit. Every failure that crosses a module boundary
 * is an {@link AmbitError} with a stable `code` (catalogued in docs/errors.md;
 * a test keeps the catalogue complete). Codes are `AMBIT_<AREA>_<WHAT>` and
 * never change meaning once released: operators grep logs for them.
 */
export interface AmbitErrorOptions {
  cause?: unknown;
  /** Structured context for logs. Never put key material here. */
  details?: Readonly<Record<string, unknown>>;
}

export class AmbitError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: AmbitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AmbitError';
    this.code = code;
    this.details = options.details ?? {};
  }

  /** `[CODE] message`, the form the CLI prints. */
  override toString(): string {
    return `[${this.code}] ${this.message}`;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function isAmbitError(err: unknown, code?: string): err is AmbitError {
  return err instanceof AmbitError && (code === undefined || err.code === code);
}

/** A readable message from anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Errors not tied to one mesh concept. */
export const CoreErrors = {
  /** A configuration value (flag, env var, file) is invalid. */
  CONFIG_INVALID: 'AMBIT_CONFIG_INVALID',
  /** A duration string could not be parsed. */
  DURATION_INVALID: 'AMBIT_DURATION_INVALID',
  /** A drain did not finish before its deadline; remaining work was forced closed. */
  DRAIN_DEADLINE: 'AMBIT_DRAIN_DEADLINE',
  /** An operation needs root (CAP_NET_ADMIN / CAP_SYS_ADMIN). */
  NOT_ROOT: 'AMBIT_NOT_ROOT',
  /** A required host tool (openssl, nft, ip) is missing. */
  TOOL_MISSING: 'AMBIT_TOOL_MISSING',
} as const;
