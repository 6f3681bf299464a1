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
import {
  anchorRuleset,
  type InpodRuleOptions,
  inpodRouting,
  inpodRuleset,
  inpodTables,
} from './rules.js';

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
  const tables = opts.dns ? [t.anchor, t.nat, t.mangle, t.raw] : [t.anchor, t.nat, t.mangle];
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
  // The anchor goes in with the capture (same transaction) for netns created
  // without it; see anchorRuleset.
  await execIn(netns, 'nft', ['-f', '-'], {
    input: anchorRuleset(ruleOpts.naming) + inpodRuleset(ruleOpts),
  });
}

/**
 * Installs only the netns anchor ({@link anchorRuleset}). Call it when the pod
 * netns is created, before any other NAT rules (kube-proxy's VIP DNAT): a
 * connection opened through them then survives the switch to the in-pod
 * capture at enrolment. Idempotent.
 */
export async function applyInpodAnchor(
  netns: NetnsRef,
  opts: { naming?: 'ambit' | 'istio'; ledger?: Ledger } = {},
): Promise<void> {
  requireRoot('installing the pod netns nft anchor');
  const name = inpodTables(opts.naming).anchor;
  opts.ledger?.record({ kind: 'nft-table', family: 'inet', name, netns: ledgerNetns(netns) });
  await execIn(netns, 'nft', ['-f', '-'], { input: anchorRuleset(opts.naming) });
}

/**
 * Un-enrolment of a live pod: removes the capture (new connections go direct)
 * but keeps what the connections still draining through the proxy need: the
 * anchor (their NAT bindings and conntrack itself), and the connmark restore
 * plus policy routing that send an app's replies on a spoofed-source inbound
 * connection back to the proxy. Those only act on connections the proxy
 * opened (connmark 0x111), so they are inert once it has drained; re-enrolment
 * re-applies them, {@link removeInpodRules} removes them with the pod.
 */
export async function releaseInpodRules(
  netns: NetnsRef,
  opts: ApplyInpodOptions = {},
): Promise<void> {
  requireRoot('removing in-pod capture rules');
  const { ledger, ...ruleOpts } = opts;
  const t = inpodTables(ruleOpts.naming);
  const present = new Set(
    (await listNftTables(netns)).filter((p) => p.family === 'inet').map((p) => p.name),
  );
  // The anchor first (one transaction with the deletions), so no step ever
  // leaves the netns without it.
  const script = [anchorRuleset(ruleOpts.naming)];
  for (const name of [t.nat, t.raw]) {
    if (present.has(name)) script.push(`delete table inet ${name}\n`);
  }
  await execIn(netns, 'nft', ['-f', '-'], { input: script.join('') });
  if (ledger) {
    for (const name of [t.nat, t.raw]) {
      ledger.forget({ kind: 'nft-table', family: 'inet', name, netns: ledgerNetns(netns) });
    }
  }
}

/**
 * Removes what {@link applyInpodRules} installed, the anchor included (missing
 * pieces are fine), and forgets it. For a deleted pod, once the proxy has
 * closed its sockets there: open redirected connections lose their NAT.
 */
export async function removeInpodRules(
  netns: NetnsRef,
  opts: ApplyInpodOptions = {},
): Promise<void> {
  requireRoot('removing in-pod capture rules');
  const { ledger, ...ruleOpts } = opts;
  const t = inpodTables(ruleOpts.naming);
  const mine = new Set([t.nat, t.mangle, t.raw, t.anchor]);
  const doomed = (await listNftTables(netns)).filter(
    (p) => p.family === 'inet' && mine.has(p.name),
  );
  if (doomed.length > 0) {
    // One transaction: no intermediate state with the capture but no anchor.
    await execIn(netns, 'nft', ['-f', '-'], {
      input: doomed.map((p) => `delete table inet ${p.name}\n`).join(''),
    });
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
