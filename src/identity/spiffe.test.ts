import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAmbitError } from '../core/errors.js';
import { assertTrustDomain, SpiffeId } from './spiffe.js';

test('parses Istio workload identities', () => {
  const id = SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/frontend');
  assert.equal(id.trustDomain, 'cluster.local');
  assert.equal(id.path, '/ns/shop/sa/frontend');
  assert.deepEqual(id.workload, { namespace: 'shop', serviceAccount: 'frontend' });
  assert.equal(SpiffeId.forWorkload('cluster.local', 'shop', 'frontend').uri, id.uri);
  assert.equal(SpiffeId.parse('spiffe://td/other/path').workload, undefined);
  assert.equal(SpiffeId.forTrustDomain('example.org').uri, 'spiffe://example.org');
});

test('rejects IDs that break the SPIFFE-ID spec', () => {
  const bad: [string, RegExp][] = [
    ['http://cluster.local/ns/a/sa/b', /scheme/],
    ['cluster.local/ns/a/sa/b', /scheme/],
    ['spiffe://', /empty/],
    ['spiffe://Cluster.local/ns/a', /lowercase/],
    ['spiffe://td:8080/ns/a', /port/],
    ['spiffe://user@td/ns/a', /userinfo/],
    ['spiffe://td/ns//sa', /empty path segment/],
    ['spiffe://td/ns/a/', /trailing/],
    ['spiffe://td/ns/../sa', /"\."/],
    ['spiffe://td/ns/a?x=1', /query/],
    ['spiffe://td/ns/a#frag', /query and fragment/],
    ['spiffe://td/ns/a%20b', /percent/],
    ['spiffe://td/ns/a b', /outside/],
    ['spiffe://*/ns/a/sa/b', /lowercase/],
    [`spiffe://td/${'a'.repeat(2100)}`, /2048/],
    [`spiffe://${'a'.repeat(256)}/x`, /255/],
  ];
  for (const [input, why] of bad) {
    assert.throws(
      () => SpiffeId.parse(input),
      (e) => isAmbitError(e, 'AMBIT_IDENTITY_SPIFFE_ID_INVALID') && why.test(e.message),
      input,
    );
  }
  assert.equal(SpiffeId.tryParse('nope'), undefined);
});

test('accepts a 2048-byte ID and validates bare trust domains', () => {
  const id = `spiffe://td/${'a'.repeat(2048 - 'spiffe://td/'.length)}`;
  assert.equal(SpiffeId.parse(id).uri.length, 2048);
  assert.equal(assertTrustDomain('cluster.local'), 'cluster.local');
  assert.throws(() => assertTrustDomain('Bad'));
});
