// `ambit waypoint run` against a real control plane: config over delta xDS
// (WaypointService with VIPs, ServiceEndpoints) and its certificate from the
// CA with a node token, as a runner would start it as a pod process.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildWaypoint } from '../../src/app/index.js';
import { parseWaypointConfig } from '../../src/config/waypoint.js';
import { startControlPlane, tempDirs } from './controlplane-fixture.js';

test('waypoint: xDS config (VIP → Service) and certificate from the control plane', async (t) => {
  const dirs = await tempDirs(t);
  // The Service a runner creates for the waypoint Gateway (without it the
  // waypoint is not programmed and nothing is bound to it).
  await writeFile(
    join(dirs.manifests, '41-waypoint-service.yaml'),
    `apiVersion: v1
kind: Service
metadata:
  name: waypoint
  namespace: shop
  labels: { gateway.istio.io/managed: istio.io-mesh-controller }
spec:
  clusterIP: 10.96.0.100
  selector: { gateway.networking.k8s.io/gateway-name: waypoint }
  ports: [{ name: mesh, port: 15008 }]
`,
  );
  // A GRPCRoute and an HTTPRoute with a CORS filter, as users write them:
  // both must reach the waypoint over xDS, compiled.
  await writeFile(
    join(dirs.manifests, '42-routes.yaml'),
    `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: catalog-grpc, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: catalog }]
  rules:
  - matches: [{ method: { service: shop.Catalog, method: Get } }]
    backendRefs: [{ name: catalog, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: catalog-web, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: catalog }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /web } }]
    filters:
    - type: CORS
      cors: { allowOrigins: ["https://shop.example"], allowMethods: [GET], maxAge: 60 }
    backendRefs: [{ name: catalog, port: 80 }]
`,
  );
  const plane = await startControlPlane(t, dirs);
  // The waypoint pod, on node-a: the node token may then obtain its identity.
  plane.store.upsertPod({
    name: 'waypoint-0',
    namespace: 'shop',
    ip: '10.1.0.99',
    labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
    serviceAccount: 'waypoint',
    node: 'node-a',
    deployment: 'waypoint',
    ports: [],
  });
  const tokenFile = join(dirs.state, 'node-a.token');
  await plane.tokens.issue('node-a', tokenFile);
  const wp = await buildWaypoint(
    parseWaypointConfig(
      {},
      {
        name: 'waypoint',
        namespace: 'shop',
        xdsAddress: plane.addresses.grpc,
        caRoot: join(dirs.state, 'ca', 'root-cert.pem'),
        tokenFile,
        nodeName: 'node-a',
        bindAddress: '127.0.0.1',
        hbonePort: '0',
        adminPort: '0',
        metricsPort: '0',
        readinessPort: '0',
      },
    ),
  );
  t.after(() => wp.destroy());
  await wp.run();
  assert.equal(wp.readiness.ready, true, wp.readiness.waitingFor.join(', '));
  const catalog = wp.store.resolve('10.96.0.20');
  assert.equal(catalog?.key, 'shop/catalog.shop.svc.cluster.local');
  assert.equal(wp.store.resolve('catalog.shop.svc.cluster.local')?.key, catalog?.key);
  assert.equal(wp.store.resolve('10.96.0.100'), undefined);
  assert.ok((catalog?.routes.length ?? 0) >= 2);
  const grpc = catalog?.routes.find((r) => r.route === 'shop/catalog-grpc');
  assert.equal(grpc?.match.grpc, true);
  assert.equal(grpc?.match.path, '/shop.Catalog/Get');
  assert.equal(catalog?.routes[0], grpc, 'GRPCRoute rules come first');
  const web = catalog?.routes.find((r) => r.route === 'shop/catalog-web');
  const cors = web?.filters.find((f) => f.type === 'CORS');
  assert.equal(cors?.type === 'CORS' && cors.policy.maxAgeSeconds, 60);
  assert.equal(wp.identity.uri, 'spiffe://cluster.local/ns/shop/sa/waypoint');
});
