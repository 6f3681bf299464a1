import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAmbitError } from '../core/errors.js';
import { readCluster } from './cluster.js';
import { MigrateErrors } from './errors.js';
import { buildInventory } from './inventory.js';

// A fake API server over real HTTPS (self-signed, trusted through the kubeconfig's CA data): serves the list endpoints, 404 for CRDs
// that are "not installed", 403 for one kind, pagination for services.
function fakeApiServer(seen: string[], tls: { key: Buffer; cert: Buffer }) {
  const lists: Record<string, unknown> = {
    '/api/v1/namespaces': {
      apiVersion: 'v1',
      kind: 'NamespaceList',
      items: [{ metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } }],
    },
    '/api/v1/nodes': {
      apiVersion: 'v1',
      kind: 'NodeList',
      items: [{ metadata: { name: 'n1' } }, { metadata: { name: 'n2' } }],
    },
    '/apis/apps/v1/deployments': {
      apiVersion: 'apps/v1',
      kind: 'DeploymentList',
      items: [
        {
          metadata: { name: 'web', namespace: 'shop' },
          spec: {
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: { containers: [{ name: 'web', image: 'x' }] },
            },
          },
        },
      ],
    },
    '/apis/networking.istio.io/v1beta1/virtualservices': {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualServiceList',
      items: [
        {
          metadata: { name: 'web', namespace: 'shop' },
          spec: { hosts: ['web'], http: [{ route: [{ destination: { host: 'web' } }] }] },
        },
      ],
    },
  };
  return createServer(tls, (req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(`${req.headers.authorization} ${url.pathname}`);
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/api/v1/services') {
      const page2 = url.searchParams.get('continue') === 'p2';
      const svc = (name: string) => ({
        metadata: { name, namespace: 'shop' },
        spec: { selector: { app: name }, ports: [{ port: 80 }] },
      });
      res.end(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ServiceList',
          metadata: page2 ? {} : { continue: 'p2' },
          items: [svc(page2 ? 'web' : 'db')],
        }),
      );
      return;
    }
    if (url.pathname === '/apis/security.istio.io/v1/authorizationpolicies') {
      res.statusCode = 403;
      res.end('{"kind":"Status"}');
      return;
    }
    const body = lists[url.pathname];
    if (body === undefined) {
      res.statusCode = 404;
      res.end('{"kind":"Status","code":404}');
      return;
    }
    res.end(JSON.stringify(body));
  });
}

function selfSigned(dir: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

function kubeconfig(dir: string, server: string, ca: Buffer): string {
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "${server}", certificate-authority-data: ${ca.toString('base64')}}
users:
- name: me
  user: {token: test-token}
contexts:
- name: fake
  context: {cluster: fake, user: me}
- name: other
  context: {cluster: fake, user: me}
current-context: other
`,
    { mode: 0o600 },
  );
  return file;
}

test('lists the kinds from a live API server with the kubeconfig credentials', async (t) => {
  const seen: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ambit-kube-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tls = selfSigned(dir);
  const server = fakeApiServer(seen, tls);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const set = await readCluster({
    kubeconfig: kubeconfig(dir, `https://127.0.0.1:${port}`, tls.cert),
    context: 'fake',
  });
  assert.ok(seen.every((s) => s.startsWith('Bearer test-token ')));
  // v1 VirtualServices 404 → falls back to v1beta1
  assert.ok(seen.some((s) => s.endsWith('/apis/networking.istio.io/v1/virtualservices')));
  const inv = buildInventory(set.objects, set.problems);
  assert.deepEqual(
    inv.services.map((s) => s.meta.name),
    ['db', 'web'],
  );
  assert.equal(inv.nodes, 2);
  assert.equal(inv.virtualServices.length, 1);
  assert.equal(inv.workloads.length, 1);
  assert.equal(inv.namespaces.get('shop')?.meta.labels['istio-injection'], 'enabled');
  assert.equal(set.problems.length, 1);
  assert.match(set.problems[0]?.message ?? '', /HTTP 403/);
});

test('an unreachable API server is an AMBIT_MIGRATE_CLUSTER_READ error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-kube-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tls = selfSigned(dir);
  const server = createServer(tls);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await assert.rejects(
    readCluster({ kubeconfig: kubeconfig(dir, `https://127.0.0.1:${port}`, tls.cert) }),
    (err) => isAmbitError(err, MigrateErrors.CLUSTER_READ),
  );
});
