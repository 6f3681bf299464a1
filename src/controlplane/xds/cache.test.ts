import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { create, fromBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { DeltaDiscoveryResponseSchema } from '../../gen/envoy/discovery/discovery_pb.js';
import { AddressSchema, WorkloadSchema } from '../../gen/istio/workload/workload_pb.js';
import { ADDRESS_TYPE_URL } from '../../xds/index.js';
import { type CachedResource, ResourceCache, type ResourceUpsert } from './cache.js';
import { encodeResponse } from './encode.js';
import { Subscription } from './subscription.js';

const T = ADDRESS_TYPE_URL;

function workload(uid: string, ip: string, extra = ''): ResourceUpsert {
  const w = create(WorkloadSchema, {
    uid,
    name: uid + extra,
    namespace: 'ns',
    addresses: [Uint8Array.from(ip.split('.').map(Number))],
  });
  return {
    message: anyPack(
      AddressSchema,
      create(AddressSchema, { type: { case: 'workload', value: w } }),
    ),
    aliases: [`net/${ip}`],
  };
}

function fill(cache: ResourceCache, n: number): void {
  const m = new Map<string, ResourceUpsert>();
  for (let i = 0; i < n; i++) m.set(`w${i}`, workload(`w${i}`, `10.0.0.${i}`));
  cache.apply(T, { upserts: m });
}

function drain(sub: Subscription, maxBytes = 1 << 20) {
  const sent: string[] = [];
  const removed: string[] = [];
  let responses = 0;
  for (let c = sub.next(maxBytes); c; c = sub.next(maxBytes)) {
    responses++;
    sent.push(...c.resources.map((r: CachedResource) => r.name));
    removed.push(...c.removed);
  }
  return { sent: sent.sort(), removed: removed.sort(), responses };
}

describe('ResourceCache', () => {
  test('versions are content hashes: identical content changes nothing', () => {
    const cache = new ResourceCache();
    const changes: string[][] = [];
    cache.subscribe((c) => changes.push([...c.names]));
    assert.deepEqual(cache.apply(T, { upserts: new Map([['a', workload('a', '10.0.0.1')]]) }), [
      'a',
    ]);
    const v1 = cache.get(T, 'a')?.version;
    assert.deepEqual(cache.apply(T, { upserts: new Map([['a', workload('a', '10.0.0.1')]]) }), []);
    assert.deepEqual(
      cache.apply(T, { upserts: new Map([['a', workload('a', '10.0.0.1', 'x')]]) }),
      ['a'],
    );
    assert.notEqual(cache.get(T, 'a')?.version, v1);
    assert.deepEqual(cache.apply(T, { removals: ['a', 'nope'] }), ['a']);
    assert.deepEqual(changes, [['a'], ['a'], ['a']]);
  });

  test('alias index follows upserts and removals', () => {
    const cache = new ResourceCache();
    cache.apply(T, { upserts: new Map([['a', workload('a', '10.0.0.1')]]) });
    assert.deepEqual([...cache.resolveAlias(T, 'net/10.0.0.1')], ['a']);
    cache.apply(T, { upserts: new Map([['a', workload('a', '10.0.0.2')]]) });
    assert.deepEqual([...cache.resolveAlias(T, 'net/10.0.0.1')], []);
    cache.apply(T, { removals: ['a'] });
    assert.deepEqual([...cache.resolveAlias(T, 'net/10.0.0.2')], []);
  });

  test('a frame concatenated into a response decodes as that resource', () => {
    const cache = new ResourceCache();
    fill(cache, 2);
    const r = [cache.get(T, 'w0'), cache.get(T, 'w1')] as CachedResource[];
    const buf = encodeResponse({
      typeUrl: T,
      nonce: 'n1',
      systemVersion: '7',
      resources: r,
      removed: ['gone'],
    });
    const resp = fromBinary(DeltaDiscoveryResponseSchema, buf);
    assert.equal(resp.nonce, 'n1');
    assert.equal(resp.typeUrl, T);
    assert.deepEqual(resp.removedResources, ['gone']);
    assert.deepEqual(
      resp.resources.map((x) => [x.name, x.version, x.aliases[0]]),
      [
        ['w0', r[0]?.version, 'net/10.0.0.0'],
        ['w1', r[1]?.version, 'net/10.0.0.1'],
      ],
    );
    assert.equal(resp.resources[0]?.resource?.typeUrl, T);
  });
});

describe('Subscription', () => {
  test('wildcard initial sync sends everything, chunked by size', () => {
    const cache = new ResourceCache();
    fill(cache, 50);
    const sub = new Subscription(T, cache);
    sub.start([], [], {});
    const frame = cache.get(T, 'w0')?.frame.length ?? 0;
    const out = drain(sub, frame * 10);
    assert.equal(out.sent.length, 50);
    assert.ok(out.responses >= 5);
  });

  test('initial_resource_versions: only differing and removed resources are sent', () => {
    const cache = new ResourceCache();
    fill(cache, 5);
    const have: Record<string, string> = {};
    for (const n of ['w0', 'w1', 'w2']) have[n] = cache.get(T, n)?.version ?? '';
    have.w1 = 'stale';
    have.gone = 'x';
    const sub = new Subscription(T, cache);
    sub.start([], [], have);
    assert.deepEqual(drain(sub), { sent: ['w1', 'w3', 'w4'], removed: ['gone'], responses: 1 });
  });

  test('a first request with nothing to send still gets a response', () => {
    const cache = new ResourceCache();
    const sub = new Subscription(T, cache);
    sub.start(['*'], ['*'], {});
    assert.deepEqual(drain(sub), { sent: [], removed: [], responses: 1 });
    assert.equal(sub.wildcard, false);
  });

  const table: {
    name: string;
    sub: string[];
    after?: (s: Subscription, c: ResourceCache) => void;
    sent: string[];
    removed: string[];
  }[] = [
    { name: 'by primary name', sub: ['w1'], sent: ['w1'], removed: [] },
    { name: 'by alias', sub: ['net/10.0.0.2'], sent: ['w2'], removed: [] },
    { name: 'unknown name answered as removed', sub: ['nope'], sent: [], removed: ['nope'] },
    {
      name: 'change to a subscribed resource is sent, others are not',
      sub: ['w1'],
      after: (s, c) => {
        c.apply(T, {
          upserts: new Map([
            ['w1', workload('w1', '10.0.0.1', 'v2')],
            ['w3', workload('w3', '10.0.0.3', 'v2')],
          ]),
        });
        s.onChange(['w1', 'w3'], () => new Set(['w1', 'w3']), 0);
      },
      sent: ['w1'],
      removed: [],
    },
    {
      name: 'removal of a held resource is sent',
      sub: ['net/10.0.0.1'],
      after: (s, c) => {
        c.apply(T, { removals: ['w1'] });
        s.onChange(['w1'], () => new Set(['w1']), 0);
      },
      sent: [],
      removed: ['w1'],
    },
    {
      name: 'unsubscribe forgets without a removal',
      sub: ['w1'],
      after: (s, c) => {
        s.update([], ['w1']);
        c.apply(T, { removals: ['w1'] });
        s.onChange(['w1'], () => new Set(['w1']), 0);
      },
      sent: [],
      removed: [],
    },
  ];
  for (const tc of table) {
    test(`on-demand: ${tc.name}`, () => {
      const cache = new ResourceCache();
      fill(cache, 5);
      const sub = new Subscription(T, cache);
      sub.start(['*'], ['*'], {});
      drain(sub);
      sub.update(tc.sub, []);
      if (tc.after) {
        drain(sub);
        tc.after(sub, cache);
      }
      const out = drain(sub);
      assert.deepEqual(out.sent, tc.sent);
      assert.deepEqual(out.removed, tc.removed);
    });
  }

  test('slow wildcard client gets only the latest version of a resource once', () => {
    const cache = new ResourceCache();
    fill(cache, 3);
    const sub = new Subscription(T, cache);
    sub.start([], [], {});
    drain(sub);
    for (let i = 0; i < 20; i++) {
      cache.apply(T, { upserts: new Map([['w0', workload('w0', '10.0.0.0', `v${i}`)]]) });
      sub.onChange(['w0'], () => new Set(['w0']), 0);
    }
    const c = sub.next(1 << 20);
    assert.deepEqual(
      c?.resources.map((r) => [r.name, r.version]),
      [['w0', cache.get(T, 'w0')?.version]],
    );
    assert.equal(sub.next(1 << 20), undefined);
  });
});
