import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type JsonObject, toJson } from '@bufbuild/protobuf';
import { makePod } from '../../../test/fixtures/manifests/load.js';
import { AuthorizationSchema } from '../../gen/istio/security/authorization_pb.js';
import { parseResource, type Resource } from '../../kube/index.js';
import { translate } from './translate.js';

function pa(
  name: string,
  namespace: string,
  spec: Record<string, unknown>,
  created = '2024-01-01T00:00:00Z',
): Resource {
  const r = parseResource({
    apiVersion: 'security.istio.io/v1beta1',
    kind: 'PeerAuthentication',
    metadata: { name, namespace, creationTimestamp: created },
    spec,
  });
  if (!('ok' in r)) throw new Error(JSON.stringify(r));
  return r.ok;
}
const pod = makePod({
  metadata: { name: 'a', namespace: 'shop', labels: { app: 'a' } },
  spec: { containers: [{ name: 'c' }] },
  status: { phase: 'Running', podIP: '10.0.0.1' },
});
const STATIC = 'istio-system/istio_converted_static_strict';
const sel = { matchLabels: { app: 'a' } };

function policiesOf(resources: Resource[]): string[] {
  const a = translate([...resources, pod]).addresses.get('Kubernetes//Pod/shop/a');
  if (a?.type.case !== 'workload') assert.fail('no workload');
  return a.type.value.authorizationPolicies;
}

test('effective mode per workload: mesh → namespace → workload, UNSET inherits, oldest wins', () => {
  const cases: Array<[string, Resource[], string[]]> = [
    ['no PeerAuthentication', [], []],
    ['namespace STRICT', [pa('default', 'shop', { mtls: { mode: 'STRICT' } })], [STATIC]],
    [
      'mesh STRICT in root namespace',
      [pa('default', 'istio-system', { mtls: { mode: 'STRICT' } })],
      [STATIC],
    ],
    [
      'mesh STRICT, namespace PERMISSIVE',
      [
        pa('m', 'istio-system', { mtls: { mode: 'STRICT' } }),
        pa('n', 'shop', { mtls: { mode: 'PERMISSIVE' } }),
      ],
      [],
    ],
    [
      'mesh STRICT, namespace UNSET inherits',
      [pa('m', 'istio-system', { mtls: { mode: 'STRICT' } }), pa('n', 'shop', {})],
      [STATIC],
    ],
    [
      'namespace PERMISSIVE, workload STRICT',
      [
        pa('n', 'shop', { mtls: { mode: 'PERMISSIVE' } }),
        pa('w', 'shop', { selector: sel, mtls: { mode: 'STRICT' } }),
      ],
      [STATIC],
    ],
    [
      'namespace STRICT, workload DISABLE',
      [
        pa('n', 'shop', { mtls: { mode: 'STRICT' } }),
        pa('w', 'shop', { selector: sel, mtls: { mode: 'DISABLE' } }),
      ],
      [],
    ],
    [
      'oldest namespace policy wins',
      [
        pa('new', 'shop', { mtls: { mode: 'PERMISSIVE' } }, '2024-06-01T00:00:00Z'),
        pa('old', 'shop', { mtls: { mode: 'STRICT' } }, '2023-01-01T00:00:00Z'),
      ],
      [STATIC],
    ],
    [
      'selector policy in another namespace does not apply',
      [pa('w', 'other', { selector: sel, mtls: { mode: 'STRICT' } })],
      [],
    ],
    [
      'workload STRICT, port PERMISSIVE → converted policy replaces static',
      [
        pa('w', 'shop', {
          selector: sel,
          mtls: { mode: 'STRICT' },
          portLevelMtls: { '9090': { mode: 'PERMISSIVE' } },
        }),
      ],
      ['shop/converted_peer_authentication_w'],
    ],
    [
      'workload PERMISSIVE, port STRICT → converted policy only',
      [
        pa('w', 'shop', {
          selector: sel,
          mtls: { mode: 'PERMISSIVE' },
          portLevelMtls: { '9090': { mode: 'STRICT' } },
        }),
      ],
      ['shop/converted_peer_authentication_w'],
    ],
    [
      'namespace STRICT, workload UNSET with port PERMISSIVE',
      [
        pa('n', 'shop', { mtls: { mode: 'STRICT' } }),
        pa('w', 'shop', { selector: sel, portLevelMtls: { '9090': { mode: 'PERMISSIVE' } } }),
      ],
      ['shop/converted_peer_authentication_w'],
    ],
  ];
  for (const [name, resources, want] of cases) assert.deepEqual(policiesOf(resources), want, name);
});

test('the static STRICT policy exists iff any PeerAuthentication exists', () => {
  assert.equal(translate([pod]).authorizations.size, 0);
  const cfg = translate([pa('n', 'shop', { mtls: { mode: 'PERMISSIVE' } }), pod]);
  assert.deepEqual(toJson(AuthorizationSchema, cfg.authorizations.get(STATIC) ?? assert.fail()), {
    name: 'istio_converted_static_strict',
    namespace: 'istio-system',
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [{ notPrincipals: [{ presence: {} }] }] }] }],
  });
});

test('port-level conversion (Istio convertPeerAuthentication)', () => {
  const json = (resources: Resource[]) => {
    const a = translate(resources).authorizations.get('shop/converted_peer_authentication_w');
    return a ? (toJson(AuthorizationSchema, a) as JsonObject) : undefined;
  };
  // STRICT with a PERMISSIVE port: deny callers without identity unless the port is 9090.
  assert.deepEqual(
    json([
      pa('w', 'shop', {
        selector: sel,
        mtls: { mode: 'STRICT' },
        portLevelMtls: { '9090': { mode: 'PERMISSIVE' } },
      }),
    ]),
    {
      name: 'converted_peer_authentication_w',
      namespace: 'shop',
      scope: 'WORKLOAD_SELECTOR',
      action: 'DENY',
      rules: [
        {
          clauses: [
            { matches: [{ notPrincipals: [{ presence: {} }] }] },
            { matches: [{ notDestinationPorts: [9090] }] },
          ],
        },
      ],
    },
  );
  // PERMISSIVE with STRICT ports: one rule per strict port.
  assert.deepEqual(
    json([
      pa('w', 'shop', {
        selector: sel,
        mtls: { mode: 'PERMISSIVE' },
        portLevelMtls: { '8443': { mode: 'STRICT' }, '443': { mode: 'STRICT' } },
      }),
    ])?.rules,
    [
      { clauses: [{ matches: [{ notPrincipals: [{ presence: {} }], destinationPorts: [443] }] }] },
      { clauses: [{ matches: [{ notPrincipals: [{ presence: {} }], destinationPorts: [8443] }] }] },
    ],
  );
  // STRICT namespace, UNSET workload with a PERMISSIVE port: the namespace's strictness is merged in.
  assert.deepEqual(
    json([
      pa('n', 'shop', { mtls: { mode: 'STRICT' } }),
      pa('w', 'shop', { selector: sel, portLevelMtls: { '9090': { mode: 'PERMISSIVE' } } }),
    ])?.rules,
    [
      {
        clauses: [
          { matches: [{ notDestinationPorts: [9090] }] },
          { matches: [{ notPrincipals: [{ presence: {} }] }] },
        ],
      },
    ],
  );
  // All ports STRICT under a STRICT workload: nothing beyond the static policy.
  assert.equal(
    json([
      pa('w', 'shop', {
        selector: sel,
        mtls: { mode: 'STRICT' },
        portLevelMtls: { '9090': { mode: 'STRICT' } },
      }),
    ]),
    undefined,
  );
  // Root-namespace policies are never converted.
  assert.equal(
    translate([
      pa('w', 'istio-system', {
        selector: sel,
        mtls: { mode: 'PERMISSIVE' },
        portLevelMtls: { '9090': { mode: 'STRICT' } },
      }),
    ]).authorizations.has('istio-system/converted_peer_authentication_w'),
    false,
  );
});

test('DISABLE is reported as unsupported in ambient', () => {
  const cfg = translate([pa('n', 'shop', { mtls: { mode: 'DISABLE' } }), pod]);
  assert.equal(cfg.statuses.length, 1);
  assert.deepEqual(
    [cfg.statuses[0]?.kind, cfg.statuses[0]?.name, cfg.statuses[0]?.reason],
    ['PeerAuthentication', 'n', 'UnsupportedValue'],
  );
  assert.deepEqual(policiesOf([pa('n', 'shop', { mtls: { mode: 'DISABLE' } })]), []);
});
