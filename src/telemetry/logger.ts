/**
 * Structured logging: one pino root per process, a child per component, and
 * levels settable per component at runtime (admin `/logging`). Output is JSON
 * on stderr so stdout stays free for CLI output.
 *
 * Redaction is a second line of defence: code must never log key material in
 * the first place, but any field named like a key is censored anyway.
 */
import { type Level, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

const REDACT_PATHS = [
  'key',
  'privateKey',
  'private_key',
  'keyPem',
  '*.key',
  '*.privateKey',
  '*.keyPem',
  '*.private_key',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
];

export interface LoggerOptions {
  /** Default level for every component. Default "info". */
  level?: Level;
  /** Destination fd; default 2 (stderr). */
  fd?: number;
  /** Binding on every line, e.g. the binary name. */
  name?: string;
}

class LogRegistry {
  private root: Logger;
  private readonly children = new Map<string, Logger>();
  private defaultLevel: Level;

  constructor(options: LoggerOptions = {}) {
    this.defaultLevel = options.level ?? 'info';
    this.root = this.make(options);
  }

  private make(options: LoggerOptions): Logger {
    return pino(
      {
        level: 'trace',
        base: options.name ? { name: options.name } : { pid: process.pid },
        redact: { paths: REDACT_PATHS, censor: '[redacted]' },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      pino.destination({ fd: options.fd ?? 2, sync: true }),
    );
  }

  configure(options: LoggerOptions): void {
    this.root = this.make(options);
    this.defaultLevel = options.level ?? this.defaultLevel;
    this.children.clear();
  }

  get(component: string): Logger {
    let child = this.children.get(component);
    if (!child) {
      child = this.root.child({ component });
      child.level = this.defaultLevel;
      this.children.set(component, child);
    }
    return child;
  }

  /** Sets the level of one component, or of all when component is undefined. */
  setLevel(level: Level, component?: string): void {
    if (component === undefined) {
      this.defaultLevel = level;
      for (const c of this.children.values()) c.level = level;
      return;
    }
    this.get(component).level = level;
  }

  levels(): Record<string, string> {
    const out: Record<string, string> = { default: this.defaultLevel };
    for (const [name, c] of this.children) out[name] = c.level;
    return out;
  }
}

/** The process's log registry. The composition root sets the level from config. */
export const logs = new LogRegistry({ level: 'info' });

export function logger(component: string): Logger {
  return logs.get(component);
}

export function isLevel(v: string): v is Level {
  return (LOG_LEVELS as readonly string[]).includes(v);
}
