import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AmbitError, errorMessage } from '../core/index.js';
import { PlatformErrors } from './errors.js';

/** Where run directories live by default: `/run/ambit/<run-id>/ledger.json`. */
export const DEFAULT_RUN_DIR = '/run/ambit';

/**
 * One host resource ambit created. `netns` is where the resource lives: a
 * namespace name or path; absent means the host (the ledger owner's) netns.
 */
export type LedgerEntry =
  | { kind: 'netns'; name: string }
  | { kind: 'veth'; name: string; netns?: string }
  | { kind: 'nft-table'; family: string; name: string; netns?: string }
  /** `args` re-run as `ip -<family> rule del <args>` / `ip -<family> route del <args>`. */
  | { kind: 'ip-rule'; family: 4 | 6; args: string[]; netns?: string }
  | { kind: 'ip-route'; family: 4 | 6; args: string[]; netns?: string }
  /** `startTime` is field 22 of /proc/<pid>/stat, so a recycled PID is never killed. */
  | { kind: 'pid'; pid: number; startTime: string; command: string };

interface LedgerFile {
  version: 1;
  runId: string;
  createdAt: string;
  ownerPid: number;
  entries: LedgerEntry[];
}

/** A stable identity for an entry, so recording twice is harmless. */
export function entryKey(e: LedgerEntry): string {
  switch (e.kind) {
    case 'netns':
      return `netns ${e.name}`;
    case 'veth':
      return `veth ${e.netns ?? ''} ${e.name}`;
    case 'nft-table':
      return `nft ${e.netns ?? ''} ${e.family} ${e.name}`;
    case 'ip-rule':
    case 'ip-route':
      return `${e.kind} ${e.netns ?? ''} ${e.family} ${e.args.join(' ')}`;
    case 'pid':
      return `pid ${e.pid} ${e.startTime}`;
  }
}

/** A new run id: sortable by time, unique per process. */
export function newRunId(): string {
  return `${Date.now().toString(36)}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * The record of every host resource a run creates, kept in a JSON file so a
 * later process can remove them all even after this one was SIGKILLed
 * ({@link cleanupLedger}). Callers record an entry BEFORE creating the
 * resource and forget it after removing it; a recorded resource that was
 * never created is harmless at cleanup. Writes are synchronous and atomic
 * (temp file + rename), so a crash never leaves a half-written ledger.
 */
export class Ledger {
  private readonly data: LedgerFile;
  private closed = false;

  private constructor(
    readonly path: string,
    data: LedgerFile,
  ) {
    this.data = data;
  }

  /** A new ledger at `<dir>/<runId>/ledger.json` (dir default {@link DEFAULT_RUN_DIR}). */
  static create(opts: { dir?: string; runId?: string } = {}): Ledger {
    const runId = opts.runId ?? newRunId();
    return Ledger.open(join(opts.dir ?? DEFAULT_RUN_DIR, runId, 'ledger.json'), runId);
  }

  /** Opens the ledger at `path`, creating it (and its directory, mode 0700) if missing. */
  static open(path: string, runId?: string): Ledger {
    const existing = readLedgerFile(path);
    if (existing) return new Ledger(path, existing);
    const ledger = new Ledger(path, {
      version: 1,
      runId: runId ?? newRunId(),
      createdAt: new Date().toISOString(),
      ownerPid: process.pid,
      entries: [],
    });
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    ledger.save();
    return ledger;
  }

  get runId(): string {
    return this.data.runId;
  }

  get entries(): readonly LedgerEntry[] {
    return this.data.entries;
  }

  /** Adds an entry and writes the file before returning. */
  record(entry: LedgerEntry): void {
    if (this.closed) {
      throw new AmbitError(
        PlatformErrors.LEDGER_INVALID,
        `ledger ${this.path} was already cleaned up`,
      );
    }
    const key = entryKey(entry);
    if (this.data.entries.some((e) => entryKey(e) === key)) return;
    this.data.entries.push(entry);
    this.save();
  }

  /** Removes an entry (the resource is gone) and writes the file. */
  forget(entry: LedgerEntry): void {
    if (this.closed) return;
    const key = entryKey(entry);
    const before = this.data.entries.length;
    this.data.entries = this.data.entries.filter((e) => entryKey(e) !== key);
    if (this.data.entries.length !== before) this.save();
  }

  /** True if `netns` names a namespace this ledger created (its contents die with it). */
  ownsNetns(netns: string | undefined): boolean {
    return (
      netns !== undefined && this.data.entries.some((e) => e.kind === 'netns' && e.name === netns)
    );
  }

  private save(): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  /** Replaces the entries (cleanup keeps only what it could not remove). */
  replaceEntries(entries: LedgerEntry[]): void {
    this.data.entries = entries;
    this.save();
  }

  /** Marks the ledger removed: later `forget` calls (e.g. a child's exit) must not recreate the file. */
  close(): void {
    this.closed = true;
  }
}

/** Reads a ledger file; undefined if it does not exist. Throws LEDGER_INVALID if unreadable. */
export function readLedgerFile(path: string): LedgerFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AmbitError(
      PlatformErrors.LEDGER_INVALID,
      `cannot read ledger ${path}: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new AmbitError(
      PlatformErrors.LEDGER_INVALID,
      `ledger ${path} is not JSON: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  const f = data as Partial<LedgerFile>;
  if (f.version !== 1 || !Array.isArray(f.entries) || typeof f.runId !== 'string') {
    throw new AmbitError(
      PlatformErrors.LEDGER_INVALID,
      `${path} is not an ambit ledger (version 1)`,
    );
  }
  return f as LedgerFile;
}

/** The start time (clock ticks since boot) of a live process, or undefined if it is gone or a zombie. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}
