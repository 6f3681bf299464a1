import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatBaggage,
  formatForwarded,
  newTraceparent,
  parseBaggage,
  parseForwardedHost,
} from './headers.js';

test('forwarded: for="ip:port" plus host= for Services', () => {
  assert.equal(formatForwarded({ ip: '10.0.0.1', port: 5000 }), 'for="10.0.0.1:5000"');
  assert.equal(
    formatForwarded({ ip: 'fd00::1', port: 5000 }, 'web.default.svc.cluster.local'),
    'for="[fd00::1]:5000";host=web.default.svc.cluster.local',
  );
});

test('parseForwardedHost', () => {
  const cases: [string | undefined, string | undefined][] = [
    ['for="10.0.0.1:5000";host=web.default.svc.cluster.local', 'web.default.svc.cluster.local'],
    ['for="10.0.0.1:5000";Host="a.b"', 'a.b'],
    ['for="10.0.0.1:5000"', undefined],
    ['for=x;host=first, for=y;host=second', 'first'],
    ['host=', undefined],
    [undefined, undefined],
  ];
  for (const [input, want] of cases) assert.equal(parseForwardedHost(input), want, String(input));
});

test('traceparent is W3C version 00 with random ids', () => {
  const a = newTraceparent();
  assert.match(a, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  assert.notEqual(a, newTraceparent());
});

test('baggage round-trips and skips empty values and malformed members', () => {
  const b = formatBaggage({
    'k8s.cluster.name': 'Kubernetes',
    'k8s.namespace.name': 'default',
    'k8s.deployment.name': 'web',
    'service.name': 'web',
    'service.version': undefined,
    'cloud.region': '',
  });
  assert.equal(
    b,
    'k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=web,service.name=web',
  );
  const parsed = parseBaggage([b, 'bad, =x, service.version=v1;prop=1']);
  assert.equal(parsed.get('k8s.deployment.name'), 'web');
  assert.equal(parsed.get('service.version'), 'v1');
  assert.equal(parsed.size, 5);
});
