import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AmbitError } from '../core/errors.js';
import { type ManifestSet, parseManifestText } from '../kube/index.js';
import { DELETED_ANNOTATION, manifestProblems, overlayManifests, reconcile } from './reconcile.js';
import { type ClusterPlan, planCluster } from './topology.js';

function ns(name: string, ambient: boolean): string {
  return `
apiVersion: v1
kind: Namespace
metadata: {name: ${name}${ambient ? ', labels: {istio.io/dataplane-mode: ambient}' : ''}}
`;
}
function deploy(name: string, replicas: number, opts: { env?: string; nodeName?: string } = {}) {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: shop}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      serviceAccountName: ${name}
      ${opts.nodeName ? `nodeName: ${opts.nodeName}` : ''}
      containers:
      - name: main
        command: [node, app.mjs]
        env: [{name: V, value: "${opts.env ?? '1'}"}]
        ports: [{name: http, containerPort: 8080}]
`;
}
function svc(name: string, app = name): string {
  return `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec:
  selector: {app: ${app}}
  ports: [{port: 80, targetPort: http}]
`;
}
function pod(name: string, labels: string): string {
  return `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: {${labels}}}
spec:
  containers: [{name: main, command: [sleep, infinity]}]
`;
}
const POLICY = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  action: ALLOW
  rules: [{from: [{source: {principals: ["cluster.local/ns/shop/sa/web"]}}]}]
`;

const set = (...docs: string[]): ManifestSet => parseManifestText(docs.join('---'), 'm.yaml');
const BASE = [ns('shop', true), deploy('web', 2), deploy('api', 1), svc('web'), svc('api')];

function running(docs: string[] = BASE): { plan: ClusterPlan; manifests: ManifestSet } {
  const manifests = set(...docs);
  return { plan: planCluster(manifests, { runId: 'r1', dir: '/srv', nodes: 2 }), manifests };
}

function changes(nextDocs: string[], base: string[] = BASE) {
  const { plan, manifests } = running(base);
  return {
    before: plan,
    c: reconcile({ current: plan, previous: manifests, next: set(...nextDocs) }),
  };
}

const ips = (pods: { ip: string }[]) => pods.map((p) => p.ip);

describe('reconcile', () => {
  test('the same manifests: nothing to do', () => {
    const { c } = changes(BASE);
    assert.equal(c.empty, true);
    assert.deepEqual(
      [c.addPods, c.removePods, c.services.added, c.services.changed, c.config],
      [[], [], [], [], []],
    );
  });

  test('scale up: only the new replica, on the least-loaded node, a fresh IP; others keep node+IP', () => {
    const { before, c } = changes([
      ns('shop', true),
      deploy('web', 3),
      deploy('api', 1),
      svc('web'),
      svc('api'),
    ]);
    assert.deepEqual(c.removePods, []);
    assert.equal(c.addPods.length, 1);
    const added = c.addPods[0];
    assert.ok(added);
    // Before: web-0 node-0, web-1 node-1, api-0 node-0 → node-1 has fewer pods.
    assert.equal(added.node, 'node-1');
    assert.ok(!ips(before.pods).includes(added.ip), `${added.ip} is new`);
    assert.equal(added.ip, '10.244.1.3');
    for (const p of before.pods) {
      const still = c.plan.pods.find((x) => x.name === p.name);
      assert.deepEqual([still?.node, still?.ip], [p.node, p.ip]);
    }
    // The web service gains an endpoint: DNAT changes, hosts files do not.
    assert.deepEqual(
      c.services.changed.map((s) => s.name),
      ['web'],
    );
    assert.deepEqual([c.hostsChanged, c.dnatChanged], [false, true]);
    assert.equal(c.plan.services.find((s) => s.name === 'web')?.endpoints.length, 3);
  });

  test('scale down: the highest replicas go, nothing is added', () => {
    const { before, c } = changes([
      ns('shop', true),
      deploy('web', 1),
      deploy('api', 1),
      svc('web'),
      svc('api'),
    ]);
    assert.deepEqual(c.addPods, []);
    assert.deepEqual(
      c.removePods.map((p) => p.name),
      [before.pods[1]?.name],
    );
  });

  test('a container change recreates the pods (same names keep node and IP: removal runs first)', () => {
    const { before, c } = changes([
      ns('shop', true),
      deploy('web', 2, { env: '2' }),
      deploy('api', 1),
      svc('web'),
      svc('api'),
    ]);
    const web = before.pods.filter((p) => p.deployment === 'web');
    assert.deepEqual(
      c.removePods.map((p) => p.name),
      web.map((p) => p.name),
    );
    assert.deepEqual(
      c.addPods.map((p) => [p.name, p.ip]),
      web.map((p) => [p.name, p.ip]),
    );
    assert.equal(c.addPods[0]?.containers[0]?.env.V, '2');
  });

  test('a template change that renames the pods never reuses a live IP', () => {
    const relabelled = deploy('web', 2).replace('labels: {app: web}', 'labels: {app: web, v: "2"}');
    const { before, c } = changes([
      ns('shop', true),
      relabelled,
      deploy('api', 1),
      svc('web'),
      svc('api'),
    ]);
    assert.equal(c.removePods.length, 2);
    assert.equal(c.addPods.length, 2);
    assert.ok(c.addPods.every((p) => !before.pods.some((b) => b.name === p.name)));
    for (const ip of ips(c.addPods)) assert.ok(!ips(before.pods).includes(ip), ip);
    assert.equal(new Set(ips(c.plan.pods)).size, c.plan.pods.length);
  });

  test('a new Deployment honours spec.nodeName', () => {
    const { c } = changes([...BASE, deploy('pinned', 2, { nodeName: 'node-0' })]);
    assert.deepEqual(
      c.addPods.map((p) => [p.deployment, p.node, p.ip]),
      [
        ['pinned', 'node-0', '10.244.0.4'],
        ['pinned', 'node-0', '10.244.0.5'],
      ],
    );
  });

  test('a new service gets a VIP no running service has; existing VIPs are stable', () => {
    const { before, c } = changes([
      ns('shop', true),
      deploy('web', 2),
      deploy('api', 1),
      svc('api'),
      svc('web'),
      svc('extra', 'web'),
    ]);
    assert.deepEqual(
      c.services.added.map((s) => s.name),
      ['extra'],
    );
    const oldVips = before.services.map((s) => s.vip);
    assert.ok(!oldVips.includes(c.services.added[0]?.vip ?? ''));
    for (const s of before.services)
      assert.equal(c.plan.services.find((x) => x.name === s.name)?.vip, s.vip, s.name);
    assert.deepEqual([c.hostsChanged, c.dnatChanged], [true, true]);
  });

  test('a removed service frees nothing for reuse in the same change', () => {
    const { before, c } = changes([
      ns('shop', true),
      deploy('web', 2),
      deploy('api', 1),
      svc('other', 'api'),
    ]);
    assert.deepEqual(c.services.removed.map((s) => s.name).sort(), ['api', 'web']);
    assert.ok(!before.services.some((s) => s.vip === c.services.added[0]?.vip));
  });

  test('namespace label change: enrollment of its pods, no pod restarted', () => {
    const { c } = changes([
      ns('shop', false),
      deploy('web', 2),
      deploy('api', 1),
      svc('web'),
      svc('api'),
    ]);
    assert.deepEqual([c.addPods, c.removePods], [[], []]);
    assert.deepEqual(c.namespaces, [{ name: 'shop', labels: {} }]);
    assert.equal(c.enrollment.length, 3);
    assert.ok(c.enrollment.every((e) => e.enrolled === false));
  });

  test('a bare pod relabelled out of the mesh changes in place', () => {
    const base = [...BASE, pod('tool', 'app: tool')];
    const { c } = changes([...BASE, pod('tool', 'app: tool, istio.io/dataplane-mode: none')], base);
    assert.deepEqual([c.addPods, c.removePods], [[], []]);
    assert.deepEqual(
      c.relabeledPods.map((p) => p.name),
      ['tool'],
    );
    assert.deepEqual(
      c.enrollment.map((e) => [e.pod.name, e.enrolled]),
      [['tool', false]],
    );
  });

  test('policies need no pod change: listed as config created/configured/deleted', () => {
    const a = changes([...BASE, POLICY]).c;
    assert.deepEqual(a.config, [{ key: 'AuthorizationPolicy/shop/allow-web', change: 'created' }]);
    assert.deepEqual([a.addPods, a.removePods, a.empty], [[], [], false]);
    const b = changes([...BASE, POLICY.replace('sa/web', 'sa/api')], [...BASE, POLICY]).c;
    assert.deepEqual(b.config, [
      { key: 'AuthorizationPolicy/shop/allow-web', change: 'configured' },
    ]);
    const d = changes(BASE, [...BASE, POLICY]).c;
    assert.deepEqual(d.config, [{ key: 'AuthorizationPolicy/shop/allow-web', change: 'deleted' }]);
  });

  test('a Service or Namespace edited only where the control plane looks (labels, annotations) is config configured', () => {
    const bound = svc('api').replace(
      'metadata: {name: api, namespace: shop}',
      'metadata: {name: api, namespace: shop, labels: {istio.io/use-waypoint: waypoint}, annotations: {ambit.dev/allow-waypoint-bypass: "true"}}',
    );
    const { c } = changes([
      ns('shop', true),
      deploy('web', 2),
      deploy('api', 1),
      svc('web'),
      bound,
    ]);
    assert.equal(c.empty, false);
    assert.deepEqual(c.config, [{ key: 'Service/shop/api', change: 'configured' }]);
    assert.deepEqual([c.addPods, c.removePods, c.services.changed], [[], [], []]);
    const annotated = ns('shop', true).replace(
      'metadata: {name: shop',
      'metadata: {annotations: {networking.istio.io/traffic-distribution: PreferClose}, name: shop',
    );
    const n = changes([annotated, ...BASE.slice(1)]).c;
    assert.equal(n.empty, false);
    assert.deepEqual(n.config, [{ key: 'Namespace//shop', change: 'configured' }]);
  });

  test('invalid manifests: MANIFEST_INVALID naming the resource, nothing planned', () => {
    const { plan, manifests } = running();
    const bad = set(...BASE, deploy('nowhere', 1, { nodeName: 'node-9' }));
    assert.throws(
      () => reconcile({ current: plan, previous: manifests, next: bad }),
      (err: unknown) =>
        err instanceof AmbitError &&
        err.code === 'AMBIT_LOCAL_MANIFEST_INVALID' &&
        /Deployment shop\/nowhere: spec.nodeName node-9/.test(err.message),
    );
  });
});

describe('overlayManifests', () => {
  test('a later layer replaces the same kind/namespace/name', () => {
    const merged = overlayManifests(set(...BASE), set(deploy('web', 5)));
    const webs = merged.objects.filter(
      (o) =>
        (o.object.metadata as { name: string }).name === 'web' && o.object.kind === 'Deployment',
    );
    assert.equal(webs.length, 1);
    assert.equal((webs[0]?.object.spec as { replicas?: number } | undefined)?.replicas, 5);
    assert.equal(merged.objects.length, BASE.length);
  });

  test('a deletion (tombstone) removes the object; a later definition brings it back', () => {
    const stone = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'shop',
        annotations: { [DELETED_ANNOTATION]: 'true' },
      },
    };
    const tomb = { objects: [{ object: stone, source: { file: 't', document: 0 } }], problems: [] };
    const isWeb = (o: { object: Record<string, unknown> }) =>
      o.object.kind === 'Deployment' && (o.object.metadata as { name: string }).name === 'web';
    const gone = overlayManifests(set(...BASE), tomb);
    assert.ok(!gone.objects.some(isWeb));
    assert.equal(gone.objects.length, BASE.length - 1);
    const back = overlayManifests(set(...BASE), tomb, set(deploy('web', 2)));
    assert.ok(back.objects.some(isWeb));
  });
});

describe('manifestProblems', () => {
  test('names kind/namespace/name and reason', () => {
    const problems = manifestProblems(
      set(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken, namespace: shop}
spec: {replicas: -1}
`),
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^Deployment shop\/broken: .*\(m\.yaml \(document 0\)\)$/);
  });
});
