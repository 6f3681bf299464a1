import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifestText } from '../../kube/index.js';
import { buildInventory } from '../inventory.js';
import { allowsHbone, analyzeNetworkPolicies } from './netpol.js';

test('allowsHbone: which port lists let TCP 15008 through', () => {
  const cases: [Parameters<typeof allowsHbone>[0], boolean][] = [
    [undefined, true],
    [[], true],
    [[{ port: 8080 }], false],
    [[{ port: 15008 }], true],
    [[{ port: 15008, protocol: 'UDP' }], false],
    [[{ port: 15000, endPort: 15010 }], true],
    [[{ port: 'http' }], false],
    [[{ protocol: 'TCP' }], true],
  ];
  for (const [ports, want] of cases) assert.equal(allowsHbone(ports), want, JSON.stringify(ports));
});

const yaml = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: x, readinessProbe: {httpGet: {port: 80, path: /}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: a, resourceVersion: "7"}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {}}]
    ports: [{port: 80}]
  - from: [{namespaceSelector: {}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ok, namespace: a}
spec:
  podSelector: {}
  ingress:
  - from: [{podSelector: {}}]
    ports: [{port: 15008, protocol: TCP}, {port: 80}]
`;

test('NetworkPolicy patch adds 15008 per rule and the probe source once', () => {
  const set = parseManifestText(yaml, 'np.yaml');
  const r = analyzeNetworkPolicies(buildInventory(set.objects), 'a');
  assert.deepEqual(
    r.findings.map((f) => `${f.resource} ${f.id}`),
    ['NetworkPolicy web np.hbone', 'NetworkPolicy web np.probes', 'NetworkPolicy ok np.ok'],
  );
  assert.deepEqual(r.findings[0]?.patch, [
    { op: 'add', path: '/spec/ingress/0/ports/-', value: { port: 15008, protocol: 'TCP' } },
  ]);
  const patched = r.objects[0] as {
    metadata: Record<string, unknown>;
    spec: { ingress: unknown[] };
  };
  assert.equal(patched.metadata.resourceVersion, undefined);
  assert.deepEqual(patched.spec.ingress, [
    { from: [{ podSelector: {} }], ports: [{ port: 80 }, { port: 15008, protocol: 'TCP' }] },
    { from: [{ namespaceSelector: {} }] },
    { from: [{ ipBlock: { cidr: '169.254.7.127/32' } }] },
  ]);
});
