import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readManifests } from '../kube/index.js';
import { validateAmbitPolicy } from './ambit-policies.js';
import { check } from './check.js';
import { convert } from './convert.js';
import { FEATURES } from './features.js';
import { buildInventory } from './inventory.js';
import { schemaError } from './models.js';
import { checkHtml, checkMarkdown } from './report/check.js';

const root = new URL('../..', import.meta.url).pathname;
const fixtures = `${root}test/fixtures/migrate/cluster`;
const broken = `${root}test/fixtures/migrate/broken/manifests.yaml.txt`;

function load() {
  const set = readManifests([fixtures, broken]);
  return buildInventory(set.objects, set.problems);
}

test('verdict per namespace on the bookinfo-style fixtures', () => {
  const r = check(load());
  const verdicts = Object.fromEntries(r.namespaces.map((n) => [n.name, n.verdict]));
  assert.deepEqual(verdicts, {
    batch: 'ready',
    bookinfo: 'blocked',
    'istio-system': 'not-in-mesh',
    legacy: 'not-in-mesh',
    shop: 'ready-after-conversion',
  });
  const bookinfo = r.namespaces.find((n) => n.name === 'bookinfo');
  assert.deepEqual(
    r.findings
      .filter((f) => f.namespace === 'bookinfo' && f.severity === 'blocker')
      .map((f) => f.id)
      .sort(),
    ['dr.loadBalancer.consistentHash', 'ef.headers', 'ef.lua', 'vs.fault'],
  );
  assert.equal(bookinfo?.waypoint, true);
  assert.equal(r.namespaces.find((n) => n.name === 'batch')?.waypoint, false);
  const shopSteps = r.namespaces.find((n) => n.name === 'shop')?.steps ?? [];
  assert.match(shopSteps[0] ?? '', /HBONE/); // NetworkPolicies before anything moves
  assert.ok(shopSteps.some((s) => s.includes('istio.io/rev-')));
  // Jobs with sidecars and the quitquitquit workaround
  assert.ok(
    r.findings.some(
      (f) => f.id === 'inj.job' && f.resource === 'Job reindex' && /quitquitquit/.test(f.detail),
    ),
  );
  assert.ok(
    r.findings.some((f) => f.id === 'inj.pod.disabled' && f.resource === 'Deployment mongodb-v1'),
  );
});

test('invalid YAML, unknown CRDs and partial objects are reported with file and index', () => {
  const r = check(load());
  const broken = r.problems
    .filter((p) => p.source.file.endsWith('manifests.yaml.txt'))
    .map((p) => [p.source.document, p.message.split(':')[0]]);
  assert.deepEqual(broken.sort(), [
    [1, 'VirtualService half-written is partial or invalid (data/spec/hosts must be array)'],
    [2, 'invalid YAML'],
    [3, 'unknown kind Widget (widgets.example.com/v1) "gizmo"'],
    [4, 'Deployment has no metadata.name'],
    [5, 'unknown kind Telemetry (telemetry.istio.io/v1) "mesh-default"'],
  ]);
});

test('every converted object validates against its schema; samples agree', () => {
  const c = convert(load());
  assert.deepEqual(c.invalid, []);
  const all = c.namespaces.flatMap((n) => n.objects);
  assert.ok(all.length > 20);
  for (const o of all) assert.equal(schemaError(o), undefined, JSON.stringify(o));
  const kinds = new Set(all.map((o) => o.kind));
  for (const k of [
    'HTTPRoute',
    'Gateway',
    'Service',
    'BackendPolicy',
    'RateLimitPolicy',
    'AuthorizationPolicy',
    'NetworkPolicy',
    'Namespace',
  ])
    assert.ok(kinds.has(k), k);
  for (const e of c.equivalence) assert.equal(e.mismatches, 0, e.virtualService);
  const gw = all.find((o) => o.kind === 'Gateway') as { spec: unknown };
  assert.deepEqual(gw.spec, {
    gatewayClassName: 'istio-waypoint',
    listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
  });
  const route = all.find(
    (o) => o.kind === 'HTTPRoute' && (o.metadata as { name: string }).name === 'reviews',
  ) as { spec: { parentRefs: unknown } };
  assert.deepEqual(route.spec.parentRefs, [{ group: '', kind: 'Service', name: 'reviews' }]);
  const rl = all.find((o) => o.kind === 'RateLimitPolicy') as { spec: unknown };
  assert.deepEqual(rl.spec, {
    targetRefs: [{ group: '', kind: 'Service', name: 'cart' }],
    local: { requests: 10, interval: '1m', burst: 20 },
  });
});

test('schemas reject broken output (typed models and ambit policy zod schemas)', () => {
  assert.match(
    schemaError({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'x' },
      spec: { parentRefs: [{ name: 3 }] },
    }) ?? '',
    /parentRefs/,
  );
  assert.match(
    schemaError({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'x' },
      spec: { action: 'MAYBE' },
    }) ?? '',
    /action/,
  );
  const bp = {
    apiVersion: 'policy.ambit.dev/v1alpha1',
    kind: 'BackendPolicy',
    metadata: { name: 'x', namespace: 'y' },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 's' }] },
  };
  assert.equal(validateAmbitPolicy(bp), undefined);
  assert.match(
    validateAmbitPolicy({ ...bp, spec: { ...bp.spec, outlierDetection: { interval: 'soon' } } }) ??
      '',
    /interval/,
  );
  assert.match(
    validateAmbitPolicy({ ...bp, spec: { ...bp.spec, retries: 3 } }) ?? '',
    /retries|Unrecognized/,
  );
});

test('markdown and html reports; html escapes input', () => {
  const inv = load();
  const r = check(inv);
  r.problems.push({ source: { file: '<script>x</script>.yaml', document: 0 }, message: 'a & b' });
  const html = checkHtml(r);
  assert.ok(html.startsWith('<!doctype html>'));
  assert.ok(!html.includes('<script>x'));
  assert.ok(html.includes('&lt;script&gt;x&lt;/script&gt;.yaml'));
  const md = checkMarkdown(r);
  assert.match(md, /## bookinfo: blocked/);
  assert.match(md, /\| request \| VirtualService \|/);
});

test('every catalogue feature is documented in docs/migration.md', () => {
  const doc = readFileSync(`${root}docs/migration.md`, 'utf8');
  const missing = Object.keys(FEATURES).filter((id) => !doc.includes(`\`${id}\``));
  assert.deepEqual(missing, []);
});
