// Randomised properties of authorize(): a seeded generator builds policies and
// connections from small value pools so matches are frequent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpiffeId } from '../identity/index.js';
import {
  IpNet,
  type Match,
  makeMatch,
  makePolicy,
  type Policy,
  type StringMatch,
} from '../state/index.js';
import { authorize, type Connection, policyMatches } from './index.js';

function rng(seed: number): () => number {
  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NS = ['a', 'b', 'c'];
const SA = ['x', 'y'];
const IPS = ['10.0.0.1', '10.0.0.2', '10.0.1.1', 'fd00::1', 'fd00::2'];
const NETS = ['10.0.0.0/24', '10.0.0.1/32', '10.0.0.0/8', 'fd00::/64', 'fd00::1/128', '0.0.0.0/0'];
const PORTS = [80, 443, 8080];

function main(seed: number): { denyHit: boolean; allowed: boolean; allowHit: boolean } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const some = <T>(gen: () => T): T[] =>
    r() < 0.6 ? [] : Array.from({ length: 1 + Math.floor(r() * 2) }, gen);
  const sm =
    (vals: readonly string[]): (() => StringMatch) =>
    () => {
      const k = r();
      if (k < 0.5) return { exact: pick(vals) };
      if (k < 0.7) return { prefix: pick(vals).slice(0, 1) };
      if (k < 0.9) return { suffix: pick(vals).slice(-1) };
      return { presence: true };
    };
  const principals = NS.flatMap((n) => SA.map((s) => `td/ns/${n}/sa/${s}`));
  const match = (): Match =>
    makeMatch({
      namespaces: some(sm(NS)),
      notNamespaces: some(sm(NS)),
      serviceAccounts: some(() => ({ namespace: pick(NS), serviceAccount: pick(SA) })),
      notServiceAccounts: some(() => ({ namespace: pick(NS), serviceAccount: pick(SA) })),
      principals: some(sm(principals)),
      notPrincipals: some(sm(principals)),
      sourceIps: some(() => IpNet.parse(pick(NETS)) as IpNet),
      notSourceIps: some(() => IpNet.parse(pick(NETS)) as IpNet),
      destinationIps: some(() => IpNet.parse(pick(NETS)) as IpNet),
      notDestinationIps: some(() => IpNet.parse(pick(NETS)) as IpNet),
      destinationPorts: some(() => pick(PORTS)),
      notDestinationPorts: some(() => pick(PORTS)),
    });
  const policy = (i: number): Policy =>
    makePolicy({
      name: `p${i}`,
      action: r() < 0.5 ? 'Allow' : 'Deny',
      dryRun: r() < 0.2,
      rules: Array.from({ length: Math.floor(r() * 3) }, () =>
        Array.from({ length: Math.floor(r() * 3) }, () =>
          Array.from({ length: Math.floor(r() * 3) }, match),
        ),
      ),
    });
  const policies = Array.from({ length: Math.floor(r() * 5) }, (_, i) => policy(i));
  const conn: Connection = {
    srcIp: pick(IPS),
    srcIdentity: r() < 0.3 ? undefined : SpiffeId.forWorkload('td', pick(NS), pick(SA)),
    dstIp: pick(IPS),
    dstPort: pick(PORTS),
  };
  const d = authorize(conn, policies);
  const enforced = policies.filter((p) => !p.dryRun);
  const denyHit = enforced.some((p) => p.action === 'Deny' && policyMatches(p, conn));
  const allows = enforced.filter((p) => p.action === 'Allow');
  const allowHit = allows.some((p) => policyMatches(p, conn));
  const ctx = `seed ${seed}`;

  // A matching enforced DENY always wins, whatever else is present.
  if (denyHit) assert.equal(d.allowed, false, ctx);
  // The full decision table.
  assert.equal(d.allowed, !denyHit && (allows.length === 0 || allowHit), ctx);
  // Dry-run policies never change the outcome.
  assert.equal(authorize(conn, enforced).allowed, d.allowed, ctx);
  assert.equal(d.dryRun.length, policies.length - enforced.length, ctx);
  // Order of policies never changes the outcome.
  assert.equal(authorize(conn, [...policies].reverse()).allowed, d.allowed, ctx);
  // A matching dry-run DENY always reports wouldDeny.
  for (const p of policies.filter((q) => q.dryRun && q.action === 'Deny')) {
    const rep = d.dryRun.find((x) => x.name === `default/${p.name}`);
    if (rep?.matched) assert.equal(rep.wouldDeny, true, ctx);
  }
  return { denyHit, allowed: d.allowed, allowHit };
}

test('property: deny-match always wins; dry-run and order never change the outcome', () => {
  const seen = { denyHit: 0, allowHit: 0, allowed: 0, denied: 0 };
  for (let seed = 1; seed <= 3000; seed++) {
    const o = main(seed);
    if (o.denyHit) seen.denyHit++;
    if (o.allowHit) seen.allowHit++;
    if (o.allowed) seen.allowed++;
    else seen.denied++;
  }
  // The generator must exercise every branch, or the properties prove little.
  for (const [k, n] of Object.entries(seen)) assert.ok(n > 100, `only ${n} cases with ${k}`);
});

test('property: adding a matching DENY to any policy set denies', () => {
  const r = rng(42);
  const conn: Connection = {
    srcIp: '10.0.0.1',
    srcIdentity: SpiffeId.forWorkload('td', 'a', 'x'),
    dstIp: '10.0.0.2',
    dstPort: 80,
  };
  const deny = makePolicy({
    name: 'd',
    action: 'Deny',
    rules: [[[makeMatch({ destinationPorts: [80] })]]],
  });
  for (let i = 0; i < 200; i++) {
    const allows = Array.from({ length: Math.floor(r() * 4) }, (_, j) =>
      makePolicy({ name: `a${j}`, rules: r() < 0.5 ? [[]] : [] }),
    );
    assert.equal(authorize(conn, [...allows, deny]).allowed, false);
  }
});
