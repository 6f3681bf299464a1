import { AmbitError, errorMessage } from '../core/index.js';
import {
  execIn,
  type Ledger,
  type LedgerEntry,
  listNftTables,
  type NetnsRef,
  netnsPath,
  requireRoot,
} from '../platform/index.js';
import { InpodErrors } from './errors.js';
import { type InpodRuleOptions, inpodRouting, inpodRuleset, inpodTables } from './rules.js';

export interface ApplyInpodOptions extends InpodRuleOptions {
  /**
   * Record the tables, rules and routes so ledger cleanup removes them. Leave
   * it out for real pods: their capture must outlive a proxy restart (fail
   * closed), and the CNI side removes it when the pod goes away.
   */
  ledger?: Ledger;
}

function ledgerNetns(netns: NetnsRef): string {
  return typeof netns === 'string' ? netns : netnsPath(netns);
}

function entries(netns: NetnsRef, opts: InpodRuleOptions): LedgerEntry[] {
  const where = ledgerNetns(netns);
  const t = inpodTables(opts.naming);
  const routing = inpodRouting(opts);
  const tables = opts.dns ? [t.nat, t.mangle, t.raw] : [t.nat, t.mangle];
  return [
    ...tables.map(
      (name): LedgerEntry => ({ kind: 'nft-table', family: 'inet', name, netns: where }),
    ),
    ...routing.rules.map((r): LedgerEntry => ({ kind: 'ip-rule', ...r, netns: where })),
    ...routing.routes.map((r): LedgerEntry => ({ kind: 'ip-route', ...r, netns: where })),
  ];
}

/**
 * Installs the in-pod capture inside `netns`: the nftables ruleset (one atomic
 * `nft -f -`) and the policy routing for replies to spoofed-source connections.
 * Idempotent. Refuses (AMBIT_INPOD_FOREIGN_RULES) when the netns already has the
 * other naming's tables, i.e. another mesh captures this pod.
 */
export async function applyInpodRules(
  netns: NetnsRef,
  opts: ApplyInpodOptions = {},
): Promise<void> {
  requireRoot('installing in-pod capture rules');
  const { ledger, ...ruleOpts } = opts;
  const foreign = inpodTables(ruleOpts.naming === 'istio' ? 'ambit' : 'istio');
  const present = await listNftTables(netns);
  const clash = present.find((p) => p.name === foreign.nat || p.name === foreign.mangle);
  if (clash) {
    throw new AmbitError(
      InpodErrors.FOREIGN_RULES,
      `netns ${netns} already has capture table ${clash.family} ${clash.name}; another mesh (or ambit with other naming) captures this pod`,
      { details: { netns, table: clash.name } },
    );
  }
  if (ledger) for (const e of entries(netns, ruleOpts)) ledger.record(e);
  const routing = inpodRouting(ruleOpts);
  for (const r of routing.routes) {
    await execIn(netns, 'ip', [`-${r.family}`, 'route', 'replace', ...r.args]);
  }
  for (const r of routing.rules) {
    const existing = await execIn(netns, 'ip', [`-${r.family}`, 'rule', 'list', ...r.args]);
    if (existing.stdout.trim() === '')
      await execIn(netns, 'ip', [`-${r.family}`, 'rule', 'add', ...r.args]);
  }
  await execIn(netns, 'nft', ['-f', '-'], { input: inpodRuleset(ruleOpts) });
}

/** Removes what {@link applyInpodRules} installed (missing pieces are fine) and forgets it. */
export async function removeInpodRules(
  netns: NetnsRef,
  opts: ApplyInpodOptions = {},
): Promise<void> {
  requireRoot('removing in-pod capture rules');
  const { ledger, ...ruleOpts } = opts;
  const t = inpodTables(ruleOpts.naming);
  const mine = new Set([t.nat, t.mangle, t.raw]);
  for (const p of await listNftTables(netns)) {
    if (p.family === 'inet' && mine.has(p.name)) {
      await execIn(netns, 'nft', ['delete', 'table', 'inet', p.name]);
    }
  }
  const routing = inpodRouting(ruleOpts);
  for (const r of routing.rules) {
    for (let i = 0; i < 16; i++) {
      const existing = await execIn(netns, 'ip', [`-${r.family}`, 'rule', 'list', ...r.args]);
      if (existing.stdout.trim() === '') break;
      await execIn(netns, 'ip', [`-${r.family}`, 'rule', 'del', ...r.args]);
    }
  }
  for (const r of routing.routes) {
    await execIn(netns, 'ip', [`-${r.family}`, 'route', 'del', ...r.args]).catch((err: unknown) => {
      if (!/No such process|No such file/.test(errorMessage(err))) throw err;
    });
  }
  if (ledger) for (const e of entries(netns, { ...ruleOpts, dns: true })) ledger.forget(e);
}
