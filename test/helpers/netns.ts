// Test fixture for real network namespaces. Every namespace, veth, nft table
// and process a test creates goes through a Ledger, and the ledger is cleaned
// up in t.after (failing the test if anything is left) and, as a backstop, on
// process exit or SIGINT/SIGTERM.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  type CleanupReport,
  cleanupLedger,
  cleanupLedgerSync,
  createNetns,
  createVeth,
  IFNAME_MAX,
  Ledger,
  type VethSpec,
} from '../../src/platform/index.js';

/** Where test ledgers live (not /run/ambit, so tests never touch a real run). */
export const TEST_LEDGER_DIR = join(tmpdir(), 'ambit-test-ledgers');

const live = new Set<Ledger>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const sweep = () => {
    for (const l of live) cleanupLedgerSync(l);
    live.clear();
  };
  process.on('exit', sweep);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      sweep();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Skips the test unless running as root. Returns true if skipped. */
export function skipUnlessRoot(t: TestContext): boolean {
  if (process.geteuid?.() === 0) return false;
  t.skip('needs root (network namespaces, nftables)');
  return true;
}

const PID = process.pid.toString(36);
let fixtures = 0;

export interface NetnsFixture {
  readonly ledger: Ledger;
  /** A unique `ambit-…` name (netns, nft table) ending in `suffix`. */
  name(suffix: string): string;
  /** A unique host-safe interface name (≤ 15 chars) ending in `suffix` (≤ 2 chars). */
  ifname(suffix: string): string;
  /** Creates a unique netns and returns its name. */
  netns(suffix: string): Promise<string>;
  veth(spec: VethSpec): Promise<void>;
  /** Removes everything now (also runs in t.after). */
  cleanup(): Promise<CleanupReport>;
}

/**
 * A per-test namespace factory. Names embed the PID and a counter so parallel
 * test files never collide. Cleanup runs in t.after and fails the test if any
 * resource could not be removed.
 */
export function netnsFixture(t: TestContext): NetnsFixture {
  hookExit();
  const id = `${PID}${(fixtures++).toString(36)}`;
  const ledger = Ledger.create({ dir: TEST_LEDGER_DIR, runId: `test-${id}` });
  live.add(ledger);
  let done: Promise<CleanupReport> | undefined;
  const cleanup = (): Promise<CleanupReport> => {
    done ??= cleanupLedger(ledger).finally(() => live.delete(ledger));
    return done;
  };
  t.after(async () => {
    const report = await cleanup();
    if (report.failed.length > 0) {
      throw new Error(`netns fixture cleanup failed: ${JSON.stringify(report.failed)}`);
    }
  });
  const fx: NetnsFixture = {
    ledger,
    name: (suffix) => `ambit-t${id}-${suffix}`,
    ifname: (suffix) => {
      const n = `ambit-${id}${suffix}`;
      if (n.length > IFNAME_MAX) throw new Error(`ifname ${n} too long; use a shorter suffix`);
      return n;
    },
    netns: async (suffix) => {
      const n = fx.name(suffix);
      await createNetns(ledger, n);
      return n;
    },
    veth: (spec) => createVeth(ledger, spec),
    cleanup,
  };
  return fx;
}
