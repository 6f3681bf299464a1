import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InformerLike, KubeObject, WatchedKind } from './kubernetes.js';
import { KubernetesSource, WATCHED_KINDS } from './kubernetes.js';
import { ConfigStore } from './store.js';

type Cb = (x: KubeObject) => void;
type ErrCb = (e?: unknown) => void;

/** A scriptable informer: the test decides when the list finishes and what events arrive. */
class FakeInformer implements InformerLike {
  readonly cbs = new Map<string, Array<Cb | ErrCb>>();
  private finishList: (() => void) | undefined;
  private failList: ((e: unknown) => void) | undefined;
  stopped = false;
  constructor(readonly kind: WatchedKind) {}
  on(verb: string, cb: Cb | ErrCb): void {
    this.cbs.set(verb, [...(this.cbs.get(verb) ?? []), cb]);
  }
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.finishList = resolve;
      this.failList = reject;
    });
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  emit(verb: string, obj?: KubeObject | Error): void {
    for (const cb of this.cbs.get(verb) ?? []) (cb as Cb)(obj as KubeObject);
  }
  listed(): void {
    this.finishList?.();
  }
  listFails(e: unknown): void {
    this.failList?.(e);
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await sleep(5);
  }
}

const kinds = WATCHED_KINDS.filter((k) => ['pods', 'authorizationpolicies'].includes(k.plural));

test('informer events become store changes; synced waits for every first list', async (t) => {
  const store = new ConfigStore();
  const made: FakeInformer[] = [];
  const src = new KubernetesSource(store, {
    kinds,
    informerFactory: (k) => {
      const f = new FakeInformer(k);
      made.push(f);
      return f;
    },
  });
  t.after(() => src.stop());
  await src.start();
  const [pods, aps] = made;
  let synced = false;
  void src.synced.then(() => {
    synced = true;
  });
  pods?.emit('add', {
    metadata: { name: 'p', namespace: 'shop' },
    spec: { containers: [{ name: 'c' }] },
  } as KubeObject);
  pods?.listed();
  await sleep(10);
  assert.equal(synced, false, 'not synced before every kind listed');
  aps?.emit('add', {
    metadata: { name: 'deny-all', namespace: 'shop' },
    spec: { action: 'DENY' },
  } as KubeObject);
  aps?.listed();
  await src.synced;
  assert.deepEqual(
    store
      .snapshot()
      .resources.map((r) => r.kind)
      .sort(),
    ['AuthorizationPolicy', 'Pod'],
  );

  // An invalid update is rejected; the last good version stays.
  aps?.emit('update', {
    metadata: { name: 'deny-all', namespace: 'shop' },
    spec: { action: 'NOPE' },
  } as KubeObject);
  assert.equal(store.status()[0]?.ref.name, 'deny-all');
  assert.equal(store.status()[0]?.where, 'kubernetes authorizationpolicies (document 0)');
  assert.ok(store.snapshot().resources.some((r) => r.kind === 'AuthorizationPolicy'));

  pods?.emit('delete', { metadata: { name: 'p', namespace: 'shop' } });
  aps?.emit('delete', { metadata: { name: 'deny-all', namespace: 'shop' } });
  assert.equal(store.snapshot().resources.length, 0);
  assert.deepEqual(store.status(), []);
});

test('a failed informer is restarted with backoff', async (t) => {
  const store = new ConfigStore();
  const made: FakeInformer[] = [];
  const src = new KubernetesSource(store, {
    kinds: kinds.slice(0, 1),
    backoff: { initialMs: 5, maxMs: 20, jitter: 0 },
    informerFactory: (k) => {
      const f = new FakeInformer(k);
      made.push(f);
      return f;
    },
  });
  t.after(() => src.stop());
  await src.start();
  made[0]?.emit('add', {
    metadata: { name: 'gone', namespace: 'shop' },
    spec: { containers: [{ name: 'c' }] },
  } as KubeObject);
  made[0]?.listFails(new Error('connection refused'));
  await until(() => made.length === 2, 'restart after a failed list');
  assert.equal(made[0]?.stopped, true);
  made[1]?.emit('error', new Error('watch closed'));
  await until(() => made.length === 3, 'restart after a watch error');
  made[2]?.emit('add', {
    metadata: { name: 'stays', namespace: 'shop' },
    spec: { containers: [{ name: 'c' }] },
  } as KubeObject);
  assert.equal(store.snapshot().resources.length, 2);
  made[2]?.listed();
  await src.synced;
  // `gone` was not in the fresh list: deleted while the watch was down.
  assert.deepEqual(
    store.snapshot().resources.map((r) => r.metadata.name),
    ['stays'],
  );
});
