import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import {
  type AuthorizationPolicy,
  AuthorizationPolicy_Action,
  AuthorizationPolicySchema,
} from '../gen/ambit/waypoint_pb.js';
import { type AuthzRequest, authorizeRequest, compilePolicy, istioMatch } from './authz.js';

const { ALLOW, DENY, AUDIT, CUSTOM } = AuthorizationPolicy_Action;

function pol(
  name: string,
  action: AuthorizationPolicy_Action,
  rules: AuthorizationPolicy['rules'] | object[],
  dryRun = false,
) {
  return compilePolicy(
    create(AuthorizationPolicySchema, {
      name,
      namespace: 'shop',
      action,
      rules: rules as never,
      dryRun,
    }),
  );
}

const base: AuthzRequest = {
  principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
  sourceIp: '10.1.2.3',
  method: 'GET',
  path: '/api/items',
  host: 'catalog.shop.svc.cluster.local',
  port: 8080,
  headers: (n) => ({ 'x-user': 'alice' })[n],
};

describe('waypoint L7 authz', () => {
  it('istio string matching', () => {
    const table: [string, string, boolean][] = [
      ['*', 'x', true],
      ['/api/*', '/api/items', true],
      ['*/items', '/api/items', true],
      ['/api', '/api/items', false],
      ['cluster.local/ns/shop/*', 'cluster.local/ns/shop/sa/x', true],
    ];
    for (const [p, v, want] of table) assert.equal(istioMatch(p, v), want, `${p} ${v}`);
  });

  it('decision table', () => {
    const allowFrontend = pol('allow-frontend', ALLOW, [
      {
        from: [{ principals: ['cluster.local/ns/shop/sa/frontend'] }],
        to: [{ methods: ['GET'], paths: ['/api/*'] }],
      },
    ]);
    const denyAdmin = pol('deny-admin', DENY, [{ to: [{ paths: ['/admin*'] }] }]);
    const allowNs = pol('allow-ns', ALLOW, [
      { from: [{ namespaces: ['shop'] }], to: [{ ports: [8080], hosts: ['CATALOG.*'] }] },
    ]);
    const denyHeader = pol('deny-bob', DENY, [
      { when: [{ key: 'request.headers[X-User]', values: ['bob'] }] },
    ]);
    const allowIp = pol('allow-ip', ALLOW, [
      {
        from: [{ ipBlocks: ['10.1.0.0/16'] }],
        when: [{ key: 'destination.port', values: ['8080'] }],
      },
    ]);
    const audit = pol('audit', AUDIT, [{}]);
    const custom = pol('custom', CUSTOM, [{ to: [{ paths: ['/ext'] }] }]);
    const allowNothing = pol('allow-nothing', ALLOW, []);
    const dryDeny = pol('dry-deny', DENY, [{}], true);
    const table: [string, ReturnType<typeof pol>[], Partial<AuthzRequest>, boolean][] = [
      ['no policies allow', [], {}, true],
      ['allow matches', [allowFrontend], {}, true],
      ['allow method mismatch', [allowFrontend], { method: 'POST' }, false],
      ['allow path mismatch', [allowFrontend], { path: '/other' }, false],
      ['plaintext peer not allowed by principal', [allowFrontend], { principal: undefined }, false],
      ['deny wins over allow', [allowFrontend, denyAdmin], { path: '/admin/x' }, false],
      ['deny not matching', [denyAdmin], {}, true],
      ['namespace + port + host (case-insensitive)', [allowNs], {}, true],
      ['other namespace', [allowNs], { principal: 'spiffe://cluster.local/ns/web/sa/x' }, false],
      ['when header', [denyHeader], { headers: () => 'bob' }, false],
      ['when header not matching', [denyHeader], {}, true],
      ['ip block', [allowIp], {}, true],
      ['ip block miss', [allowIp], { sourceIp: '10.2.0.1' }, false],
      ['audit only logs', [audit], {}, true],
      ['custom fails closed', [custom], { path: '/ext' }, false],
      ['allow with no rules denies all', [allowNothing], {}, false],
      ['dry-run deny does not enforce', [dryDeny], {}, true],
    ];
    for (const [name, policies, over, want] of table) {
      assert.equal(authorizeRequest(policies, { ...base, ...over }).allowed, want, name);
    }
    const d = authorizeRequest([audit, dryDeny], base);
    assert.deepEqual(d.audit, ['AUDIT:shop/audit', 'DENY:shop/dry-deny']);
    const denied = authorizeRequest([denyAdmin], { ...base, path: '/admin' });
    assert.equal(!denied.allowed && denied.policy, 'shop/deny-admin');
  });
});
