import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigStore } from '../controlplane/discovery/index.js';
import { AmbitError } from '../core/errors.js';
import { parseManifestText, readManifests } from '../kube/index.js';
import { parseLabelArgs, patchLabels } from './labels.js';
import { podEnrolled, renderMeshManifests } from './mesh-manifests.js';
import { planCluster } from './topology.js';

const DEMO = new URL('../../examples/demo', import.meta.url).pathname;

describe('control plane view of a run (mesh-manifests)', () => {
  const set = readManifests([DEMO]);
  const plan = planCluster(set, { runId: 'abc123', dir: DEMO, nodes: 2, meshRunDir: '/run/x' });
  const out = renderMeshManifests({
    objects: set.objects,
    namespaces: plan.namespaces,
    pods: plan.pods,
    services: plan.services,
  });

  test('the control plane accepts it: pods with IPs and nodes, services with the runner VIPs, policies', () => {
    const store = new ConfigStore();
    store.replaceOrigin('cluster.yaml', parseManifestText(out.cluster, 'cluster.yaml'));
    store.replaceOrigin('config.yaml', parseManifestText(out.config, 'config.yaml'));
    assert.deepEqual(store.status(), [], 'nothing rejected, no duplicates');
    const res = store.snapshot().resources;
    const pods = res.filter((r) => r.kind === 'Pod');
    assert.equal(pods.length, plan.pods.length);
    for (const p of plan.pods) {
      const got = pods.find((r) => r.metadata.name === p.name) as
        | { status: { podIP: string }; spec: { nodeName: string; serviceAccountName: string } }
        | undefined;
      assert.ok(got, p.name);
      assert.equal(got.status.podIP, p.ip);
      assert.equal(got.spec.nodeName, p.node);
      assert.equal(got.spec.serviceAccountName, p.serviceAccount);
    }
    for (const s of plan.services) {
      const got = res.find(
        (r) =>
          r.kind === 'Service' &&
          r.metadata.name === s.name &&
          r.metadata.namespace === s.namespace,
      ) as { spec: { clusterIP?: string } } | undefined;
      assert.equal(got?.spec.clusterIP, s.vip);
    }
    const kinds = new Set<string>(res.map((r) => r.kind));
    for (const k of ['AuthorizationPolicy', 'PeerAuthentication', 'Namespace'])
      assert.ok(kinds.has(k), k);
    assert.ok(!kinds.has('Deployment'), 'Deployments are run by the runner, not shown');
  });

  test('a waypoint Gateway becomes a pod (not enrolled, node credentials, probe) and a Service', () => {
    const wp = plan.pods.find((p) => p.namespace === 'shop' && p.deployment === 'waypoint');
    assert.ok(wp, 'waypoint pod planned');
    assert.equal(wp.enrolled, false);
    assert.equal(wp.serviceAccount, 'waypoint');
    assert.equal(wp.labels['gateway.networking.k8s.io/gateway-name'], 'waypoint');
    const c = wp.containers[0];
    assert.ok(c);
    assert.deepEqual(c.readiness, { port: 15021, path: '/healthz/ready' });
    const argv = c.argv.join(' ');
    assert.match(argv, /waypoint run --name waypoint --namespace shop --service-account waypoint/);
    assert.ok(argv.includes(`--token-file /run/x/nodes/${wp.node}/token`), argv);
    assert.ok(argv.includes(`--instance-ip ${wp.ip}`), argv);
    const svc = plan.services.find((s) => s.namespace === 'shop' && s.name === 'waypoint');
    assert.deepEqual(
      svc?.endpoints.map((e) => [e.ip, e.ports]),
      [[wp.ip, [15008]]],
    );
    assert.match(out.cluster, /"gateway.istio.io\/managed":"istio.io-mesh-controller"/);
    // Without a mesh there is nothing to serve a waypoint: no pod.
    const plain = planCluster(set, { runId: 'abc123', dir: DEMO, nodes: 2 });
    assert.ok(!plain.pods.some((p) => p.deployment === 'waypoint'));
  });

  test('namespace labels come from the runner view (after ambit label)', () => {
    const namespaces = plan.namespaces.map((n) =>
      n.name === 'legacy' ? { ...n, labels: { 'istio.io/dataplane-mode': 'ambient' } } : n,
    );
    const again = renderMeshManifests({
      ...{ objects: set.objects, pods: plan.pods, services: plan.services },
      namespaces,
    });
    const store = new ConfigStore();
    store.replaceOrigin('cluster.yaml', parseManifestText(again.cluster, 'cluster.yaml'));
    const legacy = store
      .snapshot()
      .resources.find((r) => r.kind === 'Namespace' && r.metadata.name === 'legacy');
    assert.equal(legacy?.metadata.labels['istio.io/dataplane-mode'], 'ambient');
  });
});

describe('enrollment and labels', () => {
  test('pod label wins, none opts out, namespace label otherwise', () => {
    const amb = { 'istio.io/dataplane-mode': 'ambient' };
    assert.equal(podEnrolled({}, amb), true);
    assert.equal(podEnrolled({ 'istio.io/dataplane-mode': 'none' }, amb), false);
    assert.equal(podEnrolled(amb, {}), true);
    assert.equal(podEnrolled({}, {}), false);
    assert.equal(podEnrolled({}, undefined), false);
  });

  test('kubectl label syntax', () => {
    assert.deepEqual(parseLabelArgs(['istio.io/dataplane-mode=ambient', 'team-']), {
      'istio.io/dataplane-mode': 'ambient',
      team: null,
    });
    assert.deepEqual(parseLabelArgs(['a=']), { a: '' });
    for (const bad of [[], ['novalue'], ['=x'], ['a=b c'], ['-']]) {
      assert.throws(
        () => parseLabelArgs(bad),
        (e: unknown) => e instanceof AmbitError && e.code === 'AMBIT_LOCAL_LABEL_INVALID',
        JSON.stringify(bad),
      );
    }
    assert.deepEqual(patchLabels({ a: '1', b: '2' }, { a: null, c: '3' }), { b: '2', c: '3' });
  });
});
