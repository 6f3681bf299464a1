import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { AmbitError, errorMessage } from '../core/index.js';
import { PlatformErrors } from './errors.js';
import { commandIn, type RunOptions, type RunResult, requireRoot, run } from './exec.js';
import type { Ledger, LedgerEntry } from './ledger.js';
import { processStartTime } from './ledger.js';
import { NETNS_DIR, type NetnsRef } from './platform.js';

/** Prefix of every host-visible name ambit creates (namespaces, host-side veths, tables). */
export const NAME_PREFIX = 'ambit-';
/** Longest interface name Linux accepts (IFNAMSIZ 16 minus the NUL). */
export const IFNAME_MAX = 15;

const NETNS_NAME = /^ambit-[A-Za-z0-9][A-Za-z0-9_.-]{0,56}$/;
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function invalid(msg: string): AmbitError {
  return new AmbitError(PlatformErrors.NAME_INVALID, msg);
}

/** Namespaces ambit creates are named `ambit-…` (letters, digits, `_.-`, ≤ 62 chars). */
export function assertNetnsName(name: string): void {
  if (!NETNS_NAME.test(name)) {
    throw invalid(`netns name ${JSON.stringify(name)} must match ${NETNS_NAME.source}`);
  }
}

/** Interface names: ≤ 15 chars; ends in the host netns must start with `ambit-`. */
export function assertIfName(name: string, inHost: boolean): void {
  if (name.length > IFNAME_MAX || !IFNAME.test(name)) {
    throw invalid(
      `interface name ${JSON.stringify(name)} must be 1-${IFNAME_MAX} chars of [A-Za-z0-9_.-]`,
    );
  }
  if (inHost && !name.startsWith(NAME_PREFIX)) {
    throw invalid(
      `interface ${JSON.stringify(name)} lives in the host netns and must start with ${NAME_PREFIX}`,
    );
  }
}

/** Names of the namespaces under /run/netns. */
export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch {
    return [];
  }
}

export function netnsExists(name: string): boolean {
  return existsSync(`${NETNS_DIR}/${name}`);
}

/** Runs a command inside `netns` (any {@link NetnsRef}); rejects with COMMAND_FAILED / TOOL_MISSING. */
export function execIn(
  netns: NetnsRef | undefined,
  cmd: string,
  args: readonly string[],
  opts: Omit<RunOptions, 'netns'> = {},
): Promise<RunResult> {
  return run(cmd, args, { ...opts, netns });
}

/** Creates `ambit-…` netns `name` with loopback up. Refuses to adopt an existing one. */
export async function createNetns(ledger: Ledger, name: string): Promise<void> {
  requireRoot('creating a network namespace');
  assertNetnsName(name);
  if (netnsExists(name)) throw invalid(`netns ${name} already exists; ambit will not adopt it`);
  const entry: LedgerEntry = { kind: 'netns', name };
  ledger.record(entry);
  try {
    await run('ip', ['netns', 'add', name]);
  } catch (err) {
    if (!netnsExists(name)) ledger.forget(entry);
    throw err;
  }
  await run('ip', ['link', 'set', 'lo', 'up'], { netns: name });
}

/**
 * Deletes netns `name` and forgets everything recorded inside it. The kernel
 * frees it only when nothing references it any more: close every socket made
 * in it (and stop processes in it) first, or it and its veths live on unnamed.
 */
export async function deleteNetns(ledger: Ledger, name: string): Promise<void> {
  await run('ip', ['netns', 'del', name]).catch((err: unknown) => {
    if (netnsExists(name)) throw err;
  });
  for (const e of ledger.entries) {
    if ('netns' in e && e.netns === name) ledger.forget(e);
  }
  ledger.forget({ kind: 'netns', name });
}

export interface VethSpec {
  /** First end and the netns it is created in (absent: host). */
  name: string;
  netns?: string;
  /** Second end and its netns (absent: host). */
  peer: string;
  peerNetns?: string;
  /** CIDR for the first end, e.g. `10.76.1.1/24`. */
  address?: string;
  /** CIDR for the peer end. */
  peerAddress?: string;
}

/** Creates a veth pair with each end directly in its netns, addresses set and both ends up. */
export async function createVeth(ledger: Ledger, spec: VethSpec): Promise<void> {
  requireRoot('creating a veth pair');
  assertIfName(spec.name, spec.netns === undefined);
  assertIfName(spec.peer, spec.peerNetns === undefined);
  for (const [n, ns] of [
    [spec.name, spec.netns],
    [spec.peer, spec.peerNetns],
  ] as const) {
    if (ns === undefined && existsSync(`/sys/class/net/${n}`)) {
      throw invalid(`interface ${n} already exists in the host netns; ambit will not adopt it`);
    }
  }
  // Record the end that does not die with an owned netns: deleting it deletes the pair.
  const entry: LedgerEntry =
    !ledger.ownsNetns(spec.netns) || ledger.ownsNetns(spec.peerNetns)
      ? { kind: 'veth', name: spec.name, netns: spec.netns }
      : { kind: 'veth', name: spec.peer, netns: spec.peerNetns };
  ledger.record(entry);
  const args = ['link', 'add', spec.name];
  if (spec.netns !== undefined) args.push('netns', spec.netns);
  args.push('type', 'veth', 'peer', 'name', spec.peer);
  if (spec.peerNetns !== undefined) args.push('netns', spec.peerNetns);
  try {
    await run('ip', args);
  } catch (err) {
    if (/File exists/.test(errorMessage(err))) ledger.forget(entry); // not ours
    throw err;
  }
  if (spec.address) await addAddress(spec.netns, spec.name, spec.address);
  if (spec.peerAddress) await addAddress(spec.peerNetns, spec.peer, spec.peerAddress);
  await setLinkUp(spec.netns, spec.name);
  await setLinkUp(spec.peerNetns, spec.peer);
}

/** Deletes a veth pair by one end. */
export async function deleteVeth(ledger: Ledger, name: string, netns?: string): Promise<void> {
  await run('ip', ['link', 'del', name], { netns }).catch((err: unknown) => {
    if (!/Cannot find device/.test(errorMessage(err))) throw err;
  });
  ledger.forget({ kind: 'veth', name, netns });
}

/** `ip addr replace <cidr> dev <dev>` in `netns` (idempotent). */
export async function addAddress(
  netns: NetnsRef | undefined,
  dev: string,
  cidr: string,
): Promise<void> {
  await run('ip', ['addr', 'replace', cidr, 'dev', dev], { netns });
}

export async function setLinkUp(netns: NetnsRef | undefined, dev: string): Promise<void> {
  await run('ip', ['link', 'set', dev, 'up'], { netns });
}

export interface RouteSpec {
  /** Destination: `default`, `10.0.0.0/24`, `0.0.0.0/0`, … */
  to: string;
  via?: string;
  dev?: string;
  /** Routing table id or name. Default main. */
  table?: number | string;
  /** Route type, e.g. `local` for the TPROXY / spoofed-source table. */
  type?: 'unicast' | 'local';
  /** 4 or 6. Default: 6 if `to` or `via` contains ':'. */
  family?: 4 | 6;
}

function routeArgs(r: RouteSpec): string[] {
  const args = r.type && r.type !== 'unicast' ? [r.type, r.to] : [r.to];
  if (r.via) args.push('via', r.via);
  if (r.dev) args.push('dev', r.dev);
  if (r.table !== undefined) args.push('table', String(r.table));
  return args;
}

function familyOf(...addrs: (string | undefined)[]): 4 | 6 {
  return addrs.some((a) => a?.includes(':')) ? 6 : 4;
}

/** `ip route replace …` in `netns`, recorded so cleanup removes it outside owned namespaces. */
export async function addRoute(
  ledger: Ledger,
  netns: string | undefined,
  r: RouteSpec,
): Promise<void> {
  const family = r.family ?? familyOf(r.to, r.via);
  const args = routeArgs(r);
  ledger.record({ kind: 'ip-route', family, args, netns });
  await run('ip', [`-${family}`, 'route', 'replace', ...args], { netns });
}

/**
 * `ip rule add <args>` in `netns` unless an identical rule exists (ip rules
 * have no replace), recorded for cleanup. `args` e.g. `['fwmark', '0x111/0xfff', 'lookup', '100']`.
 */
export async function addIpRule(
  ledger: Ledger,
  netns: string | undefined,
  family: 4 | 6,
  args: string[],
): Promise<void> {
  ledger.record({ kind: 'ip-rule', family, args, netns });
  const existing = await run('ip', [`-${family}`, 'rule', 'list', ...args], { netns });
  if (existing.stdout.trim() === '')
    await run('ip', [`-${family}`, 'rule', 'add', ...args], { netns });
}

/** Removes every rule matching `args` in `netns` and forgets it. */
export async function deleteIpRule(
  ledger: Ledger,
  netns: string | undefined,
  family: 4 | 6,
  args: string[],
): Promise<void> {
  for (let i = 0; i < 16; i++) {
    const existing = await run('ip', [`-${family}`, 'rule', 'list', ...args], { netns });
    if (existing.stdout.trim() === '') break;
    await run('ip', [`-${family}`, 'rule', 'del', ...args], { netns });
  }
  ledger.forget({ kind: 'ip-rule', family, args, netns });
}

const TABLE_DECL =
  /^\s*(?:(?:add|create)\s+)?table\s+(ip|ip6|inet|arp|bridge|netdev)\s+([A-Za-z0-9_.-]+)/gm;

/** The `(family, name)` of every table a ruleset declares. */
export function nftTablesOf(ruleset: string): { family: string; name: string }[] {
  const seen = new Map<string, { family: string; name: string }>();
  for (const m of ruleset.matchAll(TABLE_DECL)) {
    const t = { family: m[1] as string, name: m[2] as string };
    seen.set(`${t.family} ${t.name}`, t);
  }
  return [...seen.values()];
}

/**
 * Applies `ruleset` with `nft -f -` inside `netns` (one atomic transaction).
 * Every table it declares is recorded first, so cleanup deletes it.
 */
export async function applyNft(
  ledger: Ledger,
  netns: string | undefined,
  ruleset: string,
): Promise<void> {
  requireRoot('applying nftables rules');
  for (const t of nftTablesOf(ruleset)) ledger.record({ kind: 'nft-table', ...t, netns });
  await run('nft', ['-f', '-'], { netns, input: ruleset });
}

/** Tables present in `netns`. */
export async function listNftTables(
  netns: NetnsRef | undefined,
): Promise<{ family: string; name: string }[]> {
  const { stdout } = await run('nft', ['list', 'tables'], { netns });
  return [...stdout.matchAll(/^table (\S+) (\S+)$/gm)].map((m) => ({
    family: m[1] as string,
    name: m[2] as string,
  }));
}

/** Deletes an nft table if present, and forgets it. */
export async function deleteNftTable(
  ledger: Ledger,
  netns: string | undefined,
  family: string,
  name: string,
): Promise<void> {
  const present = await listNftTables(netns);
  if (present.some((t) => t.family === family && t.name === name)) {
    await run('nft', ['delete', 'table', family, name], { netns });
  }
  ledger.forget({ kind: 'nft-table', family, name, netns });
}

/** Sets a per-netns sysctl, e.g. `net.ipv4.ip_forward` = `1` in a simulated node. */
export async function setSysctl(
  netns: NetnsRef | undefined,
  key: string,
  value: string,
): Promise<void> {
  await run('sysctl', ['-qw', `${key}=${value}`], { netns });
}

/**
 * Starts a process inside `netns` and records its PID with its start time, so
 * cleanup can kill it after a crash without hitting a recycled PID. The entry
 * is forgotten when it exits. (A PID cannot be recorded before it exists; it is
 * recorded synchronously right after spawn.)
 */
export function spawnIn(
  ledger: Ledger,
  netns: NetnsRef | undefined,
  cmd: string,
  args: readonly string[],
  opts: SpawnOptions = {},
): ChildProcess {
  const [bin, argv] = commandIn(netns, cmd, args);
  const child = spawn(bin, argv, opts);
  const pid = child.pid;
  const startTime = pid === undefined ? undefined : processStartTime(pid);
  if (pid !== undefined && startTime !== undefined) {
    const entry: LedgerEntry = { kind: 'pid', pid, startTime, command: [cmd, ...args].join(' ') };
    ledger.record(entry);
    child.once('exit', () => ledger.forget(entry));
  }
  return child;
}
