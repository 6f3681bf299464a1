import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isAmbitError } from '../core/errors.js';
import { type ControlPlaneFlags, parseControlPlaneConfig } from './controlplane.js';
import type { Env } from './env.js';

describe('controlplane config', () => {
  test('defaults are istiod-like', () => {
    const c = parseControlPlaneConfig({}, { manifests: '/m' });
    assert.equal(c.manifestsDir, '/m');
    assert.equal(c.kubernetes, false);
    assert.equal(c.stateDir, '/var/lib/ambit/controlplane');
    assert.equal(c.caDir, '/var/lib/ambit/controlplane/ca');
    assert.equal(c.listen, '0.0.0.0');
    assert.equal(c.port, 15012);
    assert.equal(c.monitoringListen, '127.0.0.1');
    assert.equal(c.monitoringPort, 15014);
    assert.equal(c.trustDomain, 'cluster.local');
    assert.equal(c.rootNamespace, 'istio-system');
    assert.equal(c.debounceMs, 100);
    assert.equal(c.debounceMaxMs, 10_000);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.extraDnsNames));
  });

  test('env is read and flags override it', () => {
    const env: Env = {
      AMBIT_STATE_DIR: '/s',
      TRUST_DOMAIN: 'example.org',
      ROOT_NAMESPACE: 'mesh-root',
      PILOT_DEBOUNCE_AFTER: '250ms',
      PILOT_DEBOUNCE_MAX: '2s',
      AMBIT_KUBERNETES: 'true',
    };
    const c = parseControlPlaneConfig(env);
    assert.equal(c.kubernetes, true);
    assert.equal(c.stateDir, '/s');
    assert.equal(c.caDir, '/s/ca', 'CA dir follows the state dir');
    assert.equal(c.trustDomain, 'example.org');
    assert.equal(c.rootNamespace, 'mesh-root');
    assert.equal(c.debounceMs, 250);
    assert.equal(c.debounceMaxMs, 2000);
    const f = parseControlPlaneConfig(env, {
      stateDir: '/t',
      caDir: '/cacerts',
      trustDomain: 'td.test',
      debounce: '10ms',
      port: '0',
      listen: '127.0.0.1',
    });
    assert.equal(f.stateDir, '/t');
    assert.equal(f.caDir, '/cacerts');
    assert.equal(f.trustDomain, 'td.test');
    assert.equal(f.debounceMs, 10);
    assert.equal(f.port, 0);
    assert.equal(f.listen, '127.0.0.1');
  });

  const bad: Array<[string, Env, ControlPlaneFlags, RegExp]> = [
    ['no source', {}, {}, /no config source/],
    ['two sources', {}, { manifests: '/m', kubernetes: true }, /mutually exclusive/],
    ['port out of range', {}, { manifests: '/m', port: '70000' }, /--port/],
    ['port not a number', {}, { manifests: '/m', port: 'abc' }, /--port/],
    ['listen not an IP', {}, { manifests: '/m', listen: 'example.com' }, /--listen/],
    ['bad debounce', {}, { manifests: '/m', debounce: 'soon' }, /debounce/],
    [
      'bad env debounce',
      { PILOT_DEBOUNCE_AFTER: 'x' },
      { manifests: '/m' },
      /PILOT_DEBOUNCE_AFTER/,
    ],
  ];
  for (const [name, env, flags, re] of bad) {
    test(`rejects: ${name}`, () => {
      assert.throws(
        () => parseControlPlaneConfig(env, flags),
        (e: unknown) => isAmbitError(e, 'AMBIT_CONFIG_INVALID') && re.test(e.message),
      );
    });
  }
});
