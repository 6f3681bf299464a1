import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseManifestText } from '../kube/index.js';
import { convert } from './convert.js';
import { ambientFigures, cost, DEFAULT_NODE_PROXY } from './cost.js';
import { buildInventory } from './inventory.js';
import { cpuMillicores, memoryMiB } from './quantity.js';

test('quantities', () => {
  const cpu: [string, number | undefined][] = [
    ['100m', 100],
    ['0.5', 500],
    ['2', 2000],
    ['x', undefined],
  ];
  for (const [q, want] of cpu) assert.equal(cpuMillicores(q), want, q);
  const mem: [string, number | undefined][] = [
    ['128Mi', 128],
    ['1Gi', 1024],
    ['1048576', 1],
    ['1G', 1e9 / 1024 ** 2],
    ['1Zi', undefined],
  ];
  for (const [q, want] of mem) assert.equal(memoryMiB(q), want, q);
});

const yaml = `
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: annotated, namespace: a}
spec:
  replicas: 4
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}, annotations: {sidecar.istio.io/proxyCPU: 250m, sidecar.istio.io/proxyMemory: 256Mi}}
    spec: {containers: [{name: x, image: x}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: a}
spec:
  selector: {matchLabels: {app: y}}
  template:
    metadata: {labels: {app: y}}
    spec: {containers: [{name: y, image: y}]}
---
apiVersion: v1
kind: Pod
metadata: {name: injected, namespace: a}
spec:
  containers:
  - {name: app, image: z}
  - {name: istio-proxy, image: proxyv2, resources: {requests: {cpu: 10m, memory: 40Mi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: annotated-abc12, namespace: a, ownerReferences: [{kind: ReplicaSet, name: annotated-5d9f, controller: true, apiVersion: apps/v1, uid: u}]}
spec: {containers: [{name: x, image: x}]}
`;

test('sidecar reservations against node proxies and waypoints', () => {
  const set = parseManifestText(yaml, 'c.yaml');
  const inv = buildInventory(set.objects);
  const r = cost(inv, convert(inv), {
    nodes: 5,
    figures: {
      nodeProxy: DEFAULT_NODE_PROXY,
      waypoint: { cpuMillicores: 100, memoryMiB: 128 },
      source: 'test',
    },
  });
  // 4×250m + 5×100m (DaemonSet: one per node) + 10m; the ReplicaSet's pod is not counted twice
  assert.deepEqual(
    r.sidecars.map((s) => [s.workload, s.pods, s.requests.cpuMillicores, s.from]),
    [
      ['Deployment annotated', 4, 250, 'annotations'],
      ['DaemonSet agent', 5, 100, 'defaults'],
      ['Pod injected', 1, 10, 'istio-proxy container'],
    ],
  );
  assert.equal(r.sidecarTotal.cpuMillicores, 1510);
  assert.equal(r.sidecarTotal.memoryMiB, 4 * 256 + 5 * 128 + 40);
  assert.equal(r.ambient.cpuMillicores, 5 * 200);
  assert.equal(r.ambient.waypoints, 0);
  assert.equal(r.saving.vcpu, 0.51);
  assert.equal(r.saving.cpuPercent, 33.8);
});

test('per-proxy figures come from the benchmark file when present', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-cost-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'latest.json');
  assert.equal(ambientFigures(file).source, 'defaults');
  writeFileSync(
    file,
    JSON.stringify({ proxies: { ztunnel: { cpuMillicores: 60, memoryMiB: 12 } } }),
  );
  const f = ambientFigures(file);
  assert.deepEqual(
    [f.nodeProxy, f.waypoint.cpuMillicores, f.source],
    [{ cpuMillicores: 60, memoryMiB: 12 }, 100, file],
  );
  writeFileSync(file, '{not json');
  assert.match(ambientFigures(file).source, /not valid JSON/);
});
