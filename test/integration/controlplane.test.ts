import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { SpiffeId } from '../../src/identity/index.js';
import {
  monitoringGet,
  requestCertificate,
  rootPem,
  startControlPlane,
  tempDirs,
  until,
  xdsClient,
} from './controlplane-fixture.js';

const FRONTEND = SpiffeId.forWorkload('cluster.local', 'shop', 'frontend');
const RATINGS = SpiffeId.forWorkload('cluster.local', 'shop', 'ratings');
const FRONTEND_UID = 'Kubernetes//Pod/shop/frontend-0';
const FRONTEND_SVC = 'shop/frontend.shop.svc.cluster.local';

const POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: frontend-from-loadgen, namespace: shop }
spec:
  selector: { matchLabels: { app: frontend } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/shop/sa/loadgen] } }]
`;

describe('ambit controlplane', () => {
  test('node token: CA issues identities on its node, PERMISSION_DENIED for another node', async (t) => {
    const dirs = await tempDirs(t);
    const plane = await startControlPlane(t, dirs);
    const token = await plane.tokens.issue('node-a', join(dirs.state, 'node-a.token'));
    const roots = await rootPem(dirs);

    const ok = await requestCertificate(plane.addresses.grpc, roots, token, FRONTEND);
    assert.equal(ok.ok, true, ok.ok ? '' : ok.details);
    const denied = await requestCertificate(plane.addresses.grpc, roots, token, RATINGS);
    assert.equal(denied.ok, false);
    if (!denied.ok) {
      assert.equal(denied.code, status.PERMISSION_DENIED);
      assert.match(denied.details, /node "node-a"/);
    }
    const anon = await requestCertificate(plane.addresses.grpc, roots, 'not-a-token', FRONTEND);
    assert.equal(anon.ok ? 'ok' : anon.code, status.UNAUTHENTICATED);
  });

  test('delta xDS: config arrives, edits and deletions follow, invalid manifests keep the last good config', async (t) => {
    const dirs = await tempDirs(t);
    const plane = await startControlPlane(t, dirs);
    const token = await plane.tokens.issue('node-a', join(dirs.state, 'node-a.token'));
    const { client, addresses, authorizations } = xdsClient(
      t,
      plane.addresses.grpc,
      await rootPem(dirs),
      token,
      'node-a',
    );
    await client.synced;
    assert.ok(addresses.items.has(FRONTEND_UID), [...addresses.items.keys()].join(', '));
    assert.ok(addresses.items.has(FRONTEND_SVC));
    assert.ok(authorizations.items.has('shop/ratings-only-catalog'));

    // /ready, /metrics and authenticated debug endpoints.
    assert.equal((await monitoringGet(plane, '/ready')).status, 200);
    assert.equal((await monitoringGet(plane, '/debug/config_status')).status, 401);
    const conns = await monitoringGet(plane, '/debug/connections', token);
    assert.equal(conns.status, 200);
    assert.match(conns.body, /ztunnel-node-a/);

    // A new policy file reaches the client.
    const policyFile = join(dirs.manifests, '50-frontend-policy.yaml');
    const start = Date.now();
    await writeFile(policyFile, POLICY);
    await until('new policy pushed', () => authorizations.items.has('shop/frontend-from-loadgen'));
    t.diagnostic(`policy edit reached the client in ${Date.now() - start} ms`);

    // An invalid edit is reported by name and the previous version stays pushed.
    const version = authorizations.items.get('shop/frontend-from-loadgen');
    await writeFile(policyFile, POLICY.replace('action: ALLOW', 'action: PERMIT'));
    type Status = { rejected: Array<{ ref: { name: string }; retained: boolean; reason: string }> };
    let configStatus: Status = { rejected: [] };
    const deadline = Date.now() + 10_000;
    while (!configStatus.rejected.some((r) => r.ref.name === 'frontend-from-loadgen')) {
      assert.ok(Date.now() < deadline, 'rejection not reported in /debug/config_status');
      await new Promise((r) => setTimeout(r, 20));
      const r = await monitoringGet(plane, '/debug/config_status', token);
      configStatus = JSON.parse(r.body) as Status;
    }
    const rej = configStatus.rejected.find((r) => r.ref.name === 'frontend-from-loadgen');
    assert.equal(rej?.retained, true);
    assert.match(rej?.reason ?? '', /spec\.action/);
    assert.equal(authorizations.items.get('shop/frontend-from-loadgen'), version);
    const metrics = await monitoringGet(plane, '/metrics');
    assert.match(metrics.body, /^ambit_controlplane_config_errors 1$/m);
    assert.match(metrics.body, /^pilot_xds 1$/m);

    // Deleting a manifest removes what it defined.
    await rm(join(dirs.manifests, '30-security.yaml'));
    await until('policies removed', () => !authorizations.items.has('shop/ratings-only-catalog'));
    assert.ok(authorizations.items.has('shop/frontend-from-loadgen'));
  });

  test('restart: the client keeps its config and resyncs with the new control plane', async (t) => {
    const dirs = await tempDirs(t);
    const first = await startControlPlane(t, dirs);
    const port = first.addresses.grpcPort;
    const token = await first.tokens.issue('node-a', join(dirs.state, 'node-a.token'));
    const { client, addresses, authorizations } = xdsClient(
      t,
      first.addresses.grpc,
      await rootPem(dirs),
      token,
      'node-a',
    );
    await client.synced;
    const held = addresses.items.size;
    assert.ok(held > 0);

    await first.destroy();
    // While it is down the proxy serves what it has; meanwhile config changes.
    assert.equal(addresses.items.size, held);
    await rm(join(dirs.manifests, '30-security.yaml'));

    // Same state dir: same CA and node tokens; same port: the client reconnects by itself.
    const second = await startControlPlane(t, dirs, port);
    await until(
      'resynced after restart',
      () => authorizations.items.size === 0 && second.xds.connectionCount === 1,
    );
    assert.ok(addresses.items.has(FRONTEND_UID));
    assert.equal(client.state().connected, true);
  });

  test('restart: a client reconnecting before the first config is published loses nothing', async (t) => {
    const dirs = await tempDirs(t);
    const first = await startControlPlane(t, dirs);
    const port = first.addresses.grpcPort;
    const token = await first.tokens.issue('node-a', join(dirs.state, 'node-a.token'));
    const roots = await rootPem(dirs);
    const { client, addresses, authorizations } = xdsClient(
      t,
      first.addresses.grpc,
      roots,
      token,
      'node-a',
    );
    await client.synced;
    const held = { addresses: addresses.items.size, authorizations: authorizations.items.size };
    await first.destroy();

    // Serving, but the config source has not delivered yet (a slow Kubernetes sync).
    const second = await startControlPlane(t, dirs, port, { run: false });
    assert.equal(second.readiness.ready, false);
    // The client retries every 50-200 ms: give it several attempts in the window.
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(
      { addresses: addresses.items.size, authorizations: authorizations.items.size },
      held,
      'an empty cache must not be synced to a reconnecting client as removals',
    );
    // Nor may the CA refuse a node's identities for want of config: it answers UNAVAILABLE.
    const early = await requestCertificate(second.addresses.grpc, roots, token, FRONTEND);
    assert.equal(early.ok ? 'ok' : early.code, status.UNAVAILABLE);

    await second.run();
    await until('reconnected after the first publish', () => second.xds.connectionCount === 1);
    await until('synced', () => client.state().synced);
    assert.equal(addresses.items.size, held.addresses);
    const ok = await requestCertificate(second.addresses.grpc, roots, token, FRONTEND);
    assert.equal(ok.ok, true);
  });
});
