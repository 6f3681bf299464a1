import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../core/index.js';
import { run, runSync } from './exec.js';
import { DEFAULT_RUN_DIR, Ledger, type LedgerEntry, processStartTime } from './ledger.js';

export interface CleanupReport {
  removed: LedgerEntry[];
  failed: { entry: LedgerEntry; error: string }[];
}

/** stderr of a delete whose target is already gone: that counts as removed. */
const GONE = /No such file or directory|Cannot find device|does not exist|No such process/;

type Command = [cmd: string, args: string[], netns: string | undefined];

/** The delete command for an entry (pids are handled apart). */
function deleteCommand(e: Exclude<LedgerEntry, { kind: 'pid' }>): Command {
  switch (e.kind) {
    case 'netns':
      return ['ip', ['netns', 'del', e.name], undefined];
    case 'veth':
      return ['ip', ['link', 'del', e.name], e.netns];
    case 'nft-table':
      return ['nft', ['delete', 'table', e.family, e.name], e.netns];
    case 'ip-rule':
      return ['ip', [`-${e.family}`, 'rule', 'del', ...e.args], e.netns];
    case 'ip-route':
      return ['ip', [`-${e.family}`, 'route', 'del', ...e.args], e.netns];
  }
}

const ORDER: Record<LedgerEntry['kind'], number> = {
  pid: 0, // first: their sockets keep namespaces (and veths) alive
  'nft-table': 1,
  'ip-rule': 2,
  'ip-route': 3,
  veth: 4,
  netns: 5,
};

/**
 * What to remove, in order. Anything living inside a namespace the ledger
 * created is skipped: deleting the namespace removes it.
 */
export function cleanupPlan(entries: readonly LedgerEntry[]): LedgerEntry[] {
  const owned = new Set(entries.filter((e) => e.kind === 'netns').map((e) => e.name));
  return entries
    .filter((e) => !('netns' in e && e.netns !== undefined && owned.has(e.netns)))
    .map((e, i) => ({ e, i }))
    .sort((a, b) => ORDER[a.e.kind] - ORDER[b.e.kind] || b.i - a.i)
    .map(({ e }) => e);
}

function killIfSame(e: Extract<LedgerEntry, { kind: 'pid' }>): boolean {
  if (processStartTime(e.pid) !== e.startTime) return false;
  try {
    process.kill(e.pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  return true;
}

/** Pass the live Ledger when the owner cleans up, so its later forget() calls stay no-ops. */
function openForCleanup(ledgerOrPath: Ledger | string): Ledger | undefined {
  const path = typeof ledgerOrPath === 'string' ? ledgerOrPath : ledgerOrPath.path;
  if (!existsSync(path)) return undefined;
  return typeof ledgerOrPath === 'string' ? Ledger.open(path) : ledgerOrPath;
}

function finish(ledger: Ledger, report: CleanupReport): void {
  if (report.failed.length > 0) {
    ledger.replaceEntries(report.failed.map((f) => f.entry));
    return;
  }
  ledger.close();
  rmSync(ledger.path, { force: true });
  try {
    rmdirSync(dirname(ledger.path)); // the run directory, only if now empty
  } catch {
    // not empty or already gone
  }
}

/**
 * Removes everything the ledger at `path` records: kills recorded processes
 * (only if their start time still matches), deletes nft tables, ip rules and
 * routes, veths and namespaces. Resources already gone count as removed. On
 * full success the ledger file (and its empty run directory) is deleted; on
 * partial failure it keeps only what is left, so cleanup can be retried.
 * A missing ledger file is an empty cleanup. The owning process passes its
 * Ledger instance; a later process (after a crash) passes the path.
 */
export async function cleanupLedger(ledgerOrPath: Ledger | string): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], failed: [] };
  const ledger = openForCleanup(ledgerOrPath);
  if (!ledger) return report;
  for (const e of cleanupPlan(ledger.entries)) {
    try {
      if (e.kind === 'pid') {
        if (killIfSame(e)) {
          for (let i = 0; i < 200 && processStartTime(e.pid) === e.startTime; i++) await sleep(10);
        }
      } else {
        const [cmd, args, netns] = deleteCommand(e);
        await run(cmd, args, { netns }).catch((err: unknown) => {
          if (!GONE.test(errorMessage(err))) throw err;
        });
      }
      report.removed.push(e);
    } catch (err) {
      report.failed.push({ entry: e, error: errorMessage(err) });
    }
  }
  finish(ledger, report);
  return report;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Synchronous {@link cleanupLedger}, for `process.on('exit')` handlers. */
export function cleanupLedgerSync(ledgerOrPath: Ledger | string): CleanupReport {
  const report: CleanupReport = { removed: [], failed: [] };
  const ledger = openForCleanup(ledgerOrPath);
  if (!ledger) return report;
  for (const e of cleanupPlan(ledger.entries)) {
    try {
      if (e.kind === 'pid') {
        if (killIfSame(e)) {
          for (let i = 0; i < 200 && processStartTime(e.pid) === e.startTime; i++) sleepSync(10);
        }
      } else {
        const [cmd, args, netns] = deleteCommand(e);
        try {
          runSync(cmd, args, { netns });
        } catch (err) {
          if (!GONE.test(errorMessage(err))) throw err;
        }
      }
      report.removed.push(e);
    } catch (err) {
      report.failed.push({ entry: e, error: errorMessage(err) });
    }
  }
  finish(ledger, report);
  return report;
}

/** Ledger files of runs under `dir` (leftovers of crashed runs, or live ones). */
export function listLedgers(dir: string = DEFAULT_RUN_DIR): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.map((n) => join(dir, n, 'ledger.json')).filter((p) => existsSync(p));
}
