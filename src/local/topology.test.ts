import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AmbitError } from '../core/errors.js';
import { parseManifestText } from '../kube/index.js';
import { hostsFile, serviceRuleset } from './render.js';
import { expand, planCluster, podNetnsName } from './topology.js';

const NS = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
`;
function deploy(name: string, replicas: number, extra = ''): string {
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
      containers:
      - name: main
        command: [node, app.mjs]
        args: ["--name=$(POD_NAME)"]
        env:
        - {name: GREETING, value: "hi $(POD_NAMESPACE)"}
        - name: MY_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        ports: [{name: http, containerPort: 8080}]
${extra}`;
}
const SVC = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`;

function plan(text: string, nodes = 2) {
  return planCluster(parseManifestText(text, 'test.yaml'), { runId: 'r1', dir: '/srv/app', nodes });
}

function problemsOf(text: string, nodes = 2): string[] {
  try {
    plan(text, nodes);
  } catch (err) {
    assert.ok(err instanceof AmbitError);
    assert.equal(err.code, 'AMBIT_LOCAL_MANIFEST_INVALID');
    return err.details.problems as string[];
  }
  assert.fail('expected MANIFEST_INVALID');
}

describe('planCluster', () => {
  test('replicas become pods spread round-robin, with per-node pod IPs', () => {
    const p = plan([NS, deploy('web', 3), SVC].join('---'));
    assert.deepEqual(
      p.nodes.map((n) => [n.name, n.netns, n.ip, n.podCidr]),
      [
        ['node-0', 'ambit-r1-n0', '10.243.0.2', '10.244.0.0/24'],
        ['node-1', 'ambit-r1-n1', '10.243.0.3', '10.244.1.0/24'],
      ],
    );
    assert.deepEqual(
      p.pods.map((x) => [x.node, x.ip]),
      [
        ['node-0', '10.244.0.2'],
        ['node-1', '10.244.1.2'],
        ['node-0', '10.244.0.3'],
      ],
    );
    for (const pod of p.pods) assert.match(pod.name, /^web-[a-z0-9]{10}-[a-z0-9]{5}$/);
    assert.equal(new Set(p.pods.map((x) => x.name)).size, 3);
    assert.equal(p.pods[0]?.netns, `ambit-r1-shop.${p.pods[0]?.name}`);
    // Deterministic: the same manifests give the same names.
    assert.deepEqual(
      plan([NS, deploy('web', 3)].join('---')).pods.map((x) => x.name),
      p.pods.map((x) => x.name),
    );
  });

  test('containers: argv and env expanded, fieldRef, working dir, enrollment, service account', () => {
    const pod = plan([NS, deploy('web', 1)].join('---')).pods[0];
    assert.ok(pod);
    assert.equal(pod.enrolled, true);
    assert.equal(pod.serviceAccount, 'web');
    const c = pod.containers[0];
    assert.deepEqual(c?.argv, ['node', 'app.mjs', `--name=${pod.name}`]);
    assert.equal(c?.env.GREETING, 'hi shop');
    assert.equal(c?.env.MY_IP, pod.ip);
    assert.equal(c?.env.POD_IP, pod.ip);
    assert.equal(c?.workingDir, '/srv/app');
  });

  test('services get VIPs from 10.96.0.10 (or clusterIP) and endpoints with named target ports', () => {
    const fixed = SVC.replace('name: web,', 'name: fixed,').replace(
      'spec:',
      'spec:\n  clusterIP: 10.96.0.10',
    );
    const p = plan([NS, deploy('web', 2), SVC, fixed].join('---'));
    assert.deepEqual(
      p.services.map((s) => [s.name, s.vip, s.endpoints.map((e) => `${e.ip}:${e.ports[0]}`)]),
      [
        ['web', '10.96.0.11', ['10.244.0.2:8080', '10.244.1.2:8080']],
        ['fixed', '10.96.0.10', ['10.244.0.2:8080', '10.244.1.2:8080']],
      ],
    );
  });

  test('spec.nodeName pins a pod; a pod label overrides namespace enrollment', () => {
    const pinned = deploy('web', 2)
      .replace('serviceAccountName: web', 'serviceAccountName: web\n      nodeName: node-1')
      .replace('labels: {app: web}}', 'labels: {app: web, istio.io/dataplane-mode: none}}');
    const p = plan([NS, pinned].join('---'));
    assert.deepEqual(
      p.pods.map((x) => [x.node, x.enrolled]),
      [
        ['node-1', false],
        ['node-1', false],
      ],
    );
  });

  const bad: [string, string, RegExp][] = [
    [
      'no command',
      deploy('web', 1).replace('command: [node, app.mjs]', 'image: x'),
      /container main has no command/,
    ],
    [
      'unknown node',
      deploy('web', 1).replace('serviceAccountName: web', 'nodeName: node-9'),
      /spec.nodeName node-9 is not a node/,
    ],
    [
      'clusterIP outside',
      SVC.replace('spec:', 'spec:\n  clusterIP: 192.168.1.1'),
      /not in 10.96.0.0\/16/,
    ],
    [
      'invalid field',
      deploy('web', 1).replace('replicas: 1', 'replicas: -1'),
      /Deployment shop\/web/,
    ],
    ['yaml error', 'kind: [', /test.yaml \(document 0\)/],
    [
      'secret env',
      deploy('web', 1).replace(
        'fieldRef: {fieldPath: status.podIP}',
        'secretKeyRef: {name: s, key: k}',
      ),
      /env MY_IP: only value and fieldRef/,
    ],
  ];
  for (const [name, text, want] of bad) {
    test(`rejects before creating anything: ${name}`, () => {
      const problems = problemsOf([NS, text].join('---'));
      assert.ok(
        problems.some((p) => want.test(p)),
        problems.join('\n'),
      );
    });
  }

  test('--nodes must be 1..200', () => {
    assert.ok(problemsOf(NS, 0).some((p) => /--nodes 0/.test(p)));
  });
});

describe('naming and rendering', () => {
  test('long pod netns names are shortened with a hash, within 62 chars', () => {
    const n = podNetnsName(
      'abcdef',
      'a-very-long-namespace-name',
      'a-very-long-deployment-name-x2z9c-k2k9d',
    );
    assert.ok(n.length <= 62 && n.startsWith('ambit-abcdef-a-very'));
    assert.notEqual(
      n,
      podNetnsName(
        'abcdef',
        'a-very-long-namespace-name',
        'a-very-long-deployment-name-x2z9c-k2k9e',
      ),
    );
  });

  test('$(VAR) expansion', () => {
    for (const [text, want] of [
      ['$(A)-$(B)', '1-$(B)'],
      ['$$(A)', '$(A)'],
      ['plain', 'plain'],
    ] as const) {
      assert.equal(expand(text, { A: '1' }), want);
    }
  });

  test('hosts file: short names only for the pod namespace; DNAT ruleset per service port', () => {
    const p = plan([NS, deploy('web', 2), SVC, SVC.replace(/shop/g, 'other')].join('---'));
    const pod = p.pods[0];
    assert.ok(pod);
    const hosts = hostsFile(pod, p.services);
    assert.match(
      hosts,
      /^10\.96\.0\.10\tweb web\.shop web\.shop\.svc web\.shop\.svc\.cluster\.local$/m,
    );
    assert.match(
      hosts,
      /^10\.96\.0\.11\tweb\.other web\.other\.svc web\.other\.svc\.cluster\.local$/m,
    );
    const rules = serviceRuleset(p.services);
    assert.match(
      rules,
      /ip daddr 10\.96\.0\.10 tcp dport 80 dnat ip addr \. port to numgen random mod 2 map \{ 0 : 10\.244\.0\.2 \. 8080, 1 : 10\.244\.1\.2 \. 8080 \}/,
    );
    assert.doesNotMatch(rules, /10\.96\.0\.11 tcp/); // no endpoints: reset, not DNAT
    assert.match(rules, /ip daddr 10\.96\.0\.0\/16 meta l4proto tcp reject with tcp reset/);
  });
});
