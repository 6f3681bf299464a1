import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpiffeId } from '../identity/index.js';
import { IpNet, type Match, makeMatch, makePolicy, type Policy } from '../state/index.js';
import { authorize, type Connection, policyMatches } from './index.js';

// Connections modelled on ztunnel's rbac.rs tests.
const plaintext: Connection = { srcIp: '127.0.0.1', dstIp: '127.0.0.2', dstPort: 8080 };
const tls: Connection = {
  ...plaintext,
  srcIdentity: SpiffeId.forWorkload('td', 'namespace', 'account'),
};
const tlsAlt: Connection = {
  srcIdentity: SpiffeId.forWorkload('td-alt', 'ns-alt', 'sa-alt'),
  srcIp: '127.0.0.3',
  dstIp: '127.0.0.4',
  dstPort: 9090,
};

const net = (s: string): IpNet => IpNet.parse(s) as IpNet;
const allowWith = (m: Partial<Match>): Policy =>
  makePolicy({ name: 'p', rules: [[[makeMatch(m)]]] });

// [field values, expected for plaintext, tls, tlsAlt]
const fieldCases: [string, Partial<Match>, [boolean, boolean, boolean]][] = [
  ['namespaces', { namespaces: [{ exact: 'namespace' }] }, [false, true, false]],
  ['notNamespaces', { notNamespaces: [{ exact: 'namespace' }] }, [true, false, true]],
  [
    'serviceAccounts',
    { serviceAccounts: [{ namespace: 'namespace', serviceAccount: 'account' }] },
    [false, true, false],
  ],
  [
    'notServiceAccounts',
    { notServiceAccounts: [{ namespace: 'namespace', serviceAccount: 'account' }] },
    [true, false, true],
  ],
  ['principals', { principals: [{ exact: 'td/ns/namespace/sa/account' }] }, [false, true, false]],
  [
    'notPrincipals',
    { notPrincipals: [{ exact: 'td/ns/namespace/sa/account' }] },
    [true, false, true],
  ],
  ['principals prefix', { principals: [{ prefix: 'td/ns/' }] }, [false, true, false]],
  ['principals suffix', { principals: [{ suffix: '/sa/sa-alt' }] }, [false, false, true]],
  ['principals presence', { principals: [{ presence: true }] }, [false, true, true]],
  [
    'notPrincipals presence (STRICT mTLS)',
    { notPrincipals: [{ presence: true }] },
    [true, false, false],
  ],
  // Principals are written without spiffe://; a spiffe:// principal never matches.
  [
    'principals with scheme',
    { principals: [{ exact: 'spiffe://td/ns/namespace/sa/account' }] },
    [false, false, false],
  ],
  ['namespaces presence', { namespaces: [{ presence: true }] }, [false, true, true]],
  ['namespaces prefix', { namespaces: [{ prefix: 'ns-' }] }, [false, false, true]],
  ['sourceIps', { sourceIps: [net('127.0.0.1/32')] }, [true, true, false]],
  ['notSourceIps', { notSourceIps: [net('127.0.0.1/32')] }, [false, false, true]],
  ['destinationIps', { destinationIps: [net('127.0.0.2/32')] }, [true, true, false]],
  ['notDestinationIps', { notDestinationIps: [net('127.0.0.2/32')] }, [false, false, true]],
  ['destinationIps cidr', { destinationIps: [net('127.0.0.1/24')] }, [true, true, true]],
  ['notDestinationIps cidr', { notDestinationIps: [net('127.0.0.0/30')] }, [false, false, true]],
  ['destinationIps v6 never matches v4', { destinationIps: [net('::/0')] }, [false, false, false]],
  ['destinationPorts', { destinationPorts: [8080] }, [true, true, false]],
  ['notDestinationPorts', { notDestinationPorts: [8080] }, [false, false, true]],
  ['values OR within a field', { destinationPorts: [1, 9090] }, [false, false, true]],
  [
    'fields AND within a match',
    { namespaces: [{ exact: 'namespace' }], destinationPorts: [9090] },
    [false, false, false],
  ],
  [
    'positive and negative of one field',
    { namespaces: [{ prefix: 'n' }], notNamespaces: [{ exact: 'namespace' }] },
    [false, false, true],
  ],
];

for (const [name, m, [p, t, a]] of fieldCases) {
  test(`match field: ${name}`, () => {
    const pol = allowWith(m);
    assert.equal(policyMatches(pol, plaintext), p, 'plaintext');
    assert.equal(policyMatches(pol, tls), t, 'tls');
    assert.equal(policyMatches(pol, tlsAlt), a, 'tlsAlt');
  });
}

test('IPv6 sources and destinations, IPv4-mapped sources', () => {
  const c: Connection = { srcIp: 'fd00::1:5', dstIp: '::ffff:10.0.0.9', dstPort: 80 };
  assert.ok(policyMatches(allowWith({ sourceIps: [net('fd00::/16')] }), c));
  assert.ok(!policyMatches(allowWith({ sourceIps: [net('fd00::1:0/127')] }), c));
  assert.ok(policyMatches(allowWith({ sourceIps: [net('fd00::1:4/127')] }), c));
  assert.ok(policyMatches(allowWith({ destinationIps: [net('10.0.0.0/8')] }), c));
  assert.ok(policyMatches(allowWith({ notSourceIps: [net('10.0.0.0/8')] }), c));
});

test('empty structures: ztunnel rbac_empty_policy', () => {
  const rules = (r: Policy['rules']): Policy => makePolicy({ name: 'e', rules: r });
  assert.equal(policyMatches(rules([[[makeMatch()]]]), plaintext), false, 'empty match');
  assert.equal(policyMatches(rules([[[]]]), plaintext), true, 'empty clause');
  assert.equal(policyMatches(rules([[]]), plaintext), true, 'rule without clauses');
  assert.equal(policyMatches(rules([]), plaintext), false, 'no rules');
  assert.equal(
    policyMatches(rules([[[makeMatch(), makeMatch({ destinationPorts: [8080] })]]]), plaintext),
    true,
    'empty match skipped, next one matches',
  );
});

test('nesting: matches OR, clauses AND (ztunnel rbac_nesting)', () => {
  const pol = makePolicy({
    name: 'nested',
    rules: [
      [
        [makeMatch({ namespaces: [{ exact: 'a' }] }), makeMatch({ namespaces: [{ exact: 'b' }] })],
        [makeMatch({ destinationPorts: [80] })],
      ],
    ],
  });
  const from = (ns: string, port: number): Connection => ({
    srcIp: '127.0.0.1',
    srcIdentity: SpiffeId.forWorkload('td', ns, 'account'),
    dstIp: '127.0.0.2',
    dstPort: port,
  });
  assert.ok(policyMatches(pol, from('a', 80)));
  assert.ok(policyMatches(pol, from('b', 80)));
  assert.ok(!policyMatches(pol, from('bad', 80)));
  assert.ok(!policyMatches(pol, from('b', 12345)));
});

test('multiple rules OR (ztunnel rbac_multi_rule)', () => {
  const pol = makePolicy({
    name: 'multi',
    rules: [
      [[makeMatch({ namespaces: [{ exact: 'a' }] })]],
      [[makeMatch({ namespaces: [{ exact: 'b' }] })]],
    ],
  });
  const from = (ns: string): Connection => ({
    ...plaintext,
    srcIdentity: SpiffeId.forWorkload('td', ns, 'x'),
  });
  assert.ok(policyMatches(pol, from('a')));
  assert.ok(policyMatches(pol, from('b')));
  assert.ok(!policyMatches(pol, from('c')));
});

const denyPort8080 = makePolicy({
  name: 'deny-8080',
  action: 'Deny',
  rules: [[[makeMatch({ destinationPorts: [8080] })]]],
});
const allowTls = makePolicy({
  name: 'allow-ns',
  rules: [[[makeMatch({ namespaces: [{ exact: 'namespace' }] })]]],
});
const allowAlt = makePolicy({
  name: 'allow-alt',
  rules: [[[makeMatch({ namespaces: [{ exact: 'ns-alt' }] })]]],
});
const strict = makePolicy({
  name: 'istio_converted_static_strict',
  namespace: 'istio-system',
  scope: 'Global',
  action: 'Deny',
  rules: [[[makeMatch({ notPrincipals: [{ presence: true }] })]]],
});

// [name, connection, policies, allowed, deciding policy]
const orderCases: [string, Connection, Policy[], boolean, string | undefined][] = [
  ['no policies: allow', plaintext, [], true, undefined],
  ['deny matches: deny', tls, [denyPort8080], false, 'default/deny-8080'],
  ['deny does not match, no allows: allow', tlsAlt, [denyPort8080], true, undefined],
  ['deny wins over a matching allow', tls, [allowTls, denyPort8080], false, 'default/deny-8080'],
  ['allow matches: allow', tls, [allowTls], true, 'default/allow-ns'],
  ['allows exist, none match: deny', tlsAlt, [allowTls], false, undefined],
  ['any allow suffices', tlsAlt, [allowTls, allowAlt], true, 'default/allow-alt'],
  [
    'STRICT denies plaintext',
    plaintext,
    [strict],
    false,
    'istio-system/istio_converted_static_strict',
  ],
  ['STRICT admits mTLS', tls, [strict], true, undefined],
];

for (const [name, conn, policies, allowed, policy] of orderCases) {
  test(`evaluation order: ${name}`, () => {
    const d = authorize(conn, policies);
    assert.equal(d.allowed, allowed, d.reason);
    assert.equal(d.policy, policy);
    assert.deepEqual(d.dryRun, []);
  });
}

test('reason strings name the outcome', () => {
  assert.equal(authorize(tlsAlt, [allowTls]).reason, 'allow policies exist, but none allowed');
  assert.equal(authorize(tls, [denyPort8080]).reason, 'denied by policy default/deny-8080');
  assert.equal(authorize(tls, []).reason, 'no allow policies');
});

test('dry-run policies are reported, never enforced', () => {
  const dryDeny = { ...denyPort8080, name: 'dry-deny', dryRun: true };
  const dryAllow = { ...allowAlt, name: 'dry-allow', dryRun: true };
  // A matching dry-run DENY does not deny.
  let d = authorize(tls, [dryDeny]);
  assert.equal(d.allowed, true);
  assert.deepEqual(d.dryRun, [{ name: 'default/dry-deny', matched: true, wouldDeny: true }]);
  // A non-matching dry-run ALLOW does not turn "no allow policies" into a deny.
  d = authorize(tls, [dryAllow]);
  assert.equal(d.allowed, true);
  assert.equal(d.reason, 'no allow policies');
  assert.deepEqual(d.dryRun, [{ name: 'default/dry-allow', matched: false, wouldDeny: true }]);
  // A matching dry-run ALLOW does not rescue a connection the enforced allows reject.
  d = authorize(tlsAlt, [allowTls, dryAllow]);
  assert.equal(d.allowed, false);
  assert.deepEqual(d.dryRun, [{ name: 'default/dry-allow', matched: true, wouldDeny: false }]);
  // Non-matching dry-run DENY: would not deny.
  d = authorize(tlsAlt, [dryDeny]);
  assert.deepEqual(d.dryRun, [{ name: 'default/dry-deny', matched: false, wouldDeny: false }]);
});

test('an identity outside the Istio form has no namespace or service account', () => {
  const c: Connection = { ...plaintext, srcIdentity: SpiffeId.parse('spiffe://td/custom/path') };
  assert.ok(policyMatches(allowWith({ principals: [{ exact: 'td/custom/path' }] }), c));
  assert.ok(!policyMatches(allowWith({ namespaces: [{ presence: true }] }), c));
  assert.ok(
    !policyMatches(allowWith({ serviceAccounts: [{ namespace: '', serviceAccount: '' }] }), c),
  );
});
