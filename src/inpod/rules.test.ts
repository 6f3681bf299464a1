import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { anchorRuleset, inpodRouting, inpodRuleset, inpodTables } from './index.js';

const golden = (name: string) =>
  readFileSync(new URL(`./testdata/${name}.golden`, import.meta.url), 'utf8');

// Regenerate after an intended change:
//   node --import tsx -e "import('./src/inpod/rules.ts').then(m => process.stdout.write(m.inpodRuleset()))" > src/inpod/testdata/default.golden
test('default ruleset matches the golden file', () => {
  assert.equal(inpodRuleset(), golden('default'));
});

test('DNS + IPv6 ruleset matches the golden file', () => {
  assert.equal(inpodRuleset({ dns: true, ipv6: true }), golden('dns-ipv6'));
});

test('istio naming produces Istio table and chain names', () => {
  const rules = inpodRuleset({ naming: 'istio', dns: true });
  assert.deepEqual(inpodTables('istio'), {
    nat: 'istio-ambient-nat',
    mangle: 'istio-ambient-mangle',
    raw: 'istio-ambient-raw',
    anchor: 'istio-ambient-anchor',
  });
  assert.match(rules, /^add table inet istio-ambient-nat$/m);
  assert.match(rules, /^add rule inet istio-ambient-nat output jump istio-output$/m);
  assert.doesNotMatch(rules, /ambit-/);
});

// Each row: what a user relies on, and the rule that provides it.
const facts: [string, RegExp][] = [
  [
    'outbound TCP is redirected to 15001 unless marked 0x539',
    /ambit-output meta l4proto tcp ip daddr != 127\.0\.0\.1\/32 mark and 0xfff != 0x539 counter redirect to :15001$/m,
  ],
  [
    'inbound TCP except 15008 is redirected to 15006',
    /ambit-prerouting ip daddr != 127\.0\.0\.1\/32 tcp dport != 15008 mark and 0xfff != 0x539 counter redirect to :15006$/m,
  ],
  [
    'kubelet probes from 169.254.7.127 are accepted',
    /ambit-prerouting meta l4proto tcp ip saddr 169\.254\.7\.127 counter accept$/m,
  ],
  [
    'replies of spoofed connections are not redirected',
    /ambit-output meta l4proto tcp mark and 0xfff == 0x111 counter accept$/m,
  ],
  ['proxy connections get connmark 0x111', /ct mark set ct mark & 0xfffff000 \| 0x111$/m],
  [
    'the connmark is restored on output',
    /ct mark and 0xfff == 0x111 counter meta mark set ct mark$/m,
  ],
];
for (const [what, re] of facts) {
  test(`ruleset: ${what}`, () => assert.match(inpodRuleset(), re));
}

test('rules before the outbound redirect exempt lo and the connmark (order matters)', () => {
  const lines = inpodRuleset().split('\n');
  const redirect = lines.findIndex((l) => l.includes('redirect to :15001'));
  const lo = lines.findIndex((l) => l.includes('oifname lo ip daddr'));
  const conn = lines.findIndex((l) => l.includes('== 0x111 counter accept'));
  assert.ok(lo >= 0 && conn >= 0 && lo < redirect && conn < redirect);
});

test('ports, marks and probe address are configurable; DNS capture is off by default', () => {
  const rules = inpodRuleset({
    outboundPort: 25001,
    inboundPlaintextPort: 25006,
    inboundHbonePort: 25008,
    proxyMark: 0x42,
    probeSnatV4: '169.254.9.9',
  });
  assert.match(rules, /redirect to :25001$/m);
  assert.match(rules, /tcp dport != 25008 mark and 0xfff != 0x42 counter redirect to :25006$/m);
  assert.match(rules, /ip saddr 169\.254\.9\.9 /);
  assert.doesNotMatch(rules, /15053|dport 53|raw/);
  assert.match(inpodRuleset({ dns: true }), /udp dport 53 counter redirect to :15053$/m);
});

test('policy routing: fwmark 0x111/0xfff looks up table 100, which routes everything locally', () => {
  assert.deepEqual(inpodRouting(), {
    rules: [{ family: 4, args: ['fwmark', '0x111/0xfff', 'lookup', '100'] }],
    routes: [{ family: 4, args: ['local', '0.0.0.0/0', 'dev', 'lo', 'table', '100'] }],
  });
  assert.equal(inpodRouting({ ipv6: true }).routes[1]?.args[1], '::/0');
});

test('anchor: nat base chains on both hooks holding a conntrack reference, idempotent', () => {
  assert.equal(
    anchorRuleset(),
    [
      'add table inet ambit-anchor',
      'flush table inet ambit-anchor',
      'add chain inet ambit-anchor prerouting { type nat hook prerouting priority 100 ; }',
      'add rule inet ambit-anchor prerouting ct state invalid counter',
      'add chain inet ambit-anchor output { type nat hook output priority 100 ; }',
      'add rule inet ambit-anchor output ct state invalid counter',
      '',
    ].join('\n'),
  );
  assert.match(anchorRuleset('istio'), /^add table inet istio-ambient-anchor$/m);
});
