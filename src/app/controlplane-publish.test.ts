// The CA's node-authorization table follows the translated workloads: a
// workload without a service account (the workload API leaves `default`
// empty) still lets its node obtain `.../sa/default`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkloadIdentityTable } from '../controlplane/ca/index.js';
import { ConfigStore } from '../controlplane/discovery/index.js';
import { parseManifestText } from '../kube/index.js';
import { TranslationPipeline } from './controlplane-publish.js';

const PODS = `
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: shop, labels: {app: plain}}
spec: {nodeName: node-0, containers: [{name: c, image: x}]}
status: {podIP: 10.244.0.9, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: named, namespace: shop, labels: {app: named}}
spec: {nodeName: node-1, serviceAccountName: web, containers: [{name: c, image: x}]}
status: {podIP: 10.244.1.9, phase: Running}
`;

test('pods on the default service account are in the CA identity table', () => {
  const store = new ConfigStore();
  store.replaceOrigin('pods.yaml', parseManifestText(PODS, 'pods.yaml'));
  const identities = new WorkloadIdentityTable();
  const pipeline = new TranslationPipeline({
    publisher: { publish: () => {} },
    identities,
    translate: { trustDomain: 'cluster.local' },
  });
  pipeline.apply(store.snapshot());
  assert.deepEqual(
    [...identities.identitiesOnNode('node-0')],
    ['spiffe://cluster.local/ns/shop/sa/default'],
  );
  assert.deepEqual(
    [...identities.identitiesOnNode('node-1')],
    ['spiffe://cluster.local/ns/shop/sa/web'],
  );
});
