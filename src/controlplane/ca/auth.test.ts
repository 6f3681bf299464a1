import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAmbitError } from '../../core/errors.js';
import { bearerToken, ChainAuthenticator } from './auth.js';
import { NodeAuthorizer, WorkloadIdentityTable } from './authorize.js';
import { KubernetesTokenAuthenticator, type TokenReviewResult } from './kube-auth.js';
import { NODE_TOKEN_STORE_FILE, NodeTokenAuthenticator, NodeTokenRegistry } from './node-token.js';

const bearer = (t: string) => ({ authorization: [`Bearer ${t}`] });
const isCode = (code: string) => (e: unknown) => isAmbitError(e, code);

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-ca-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('bearerToken extracts the token of an authorization value', () => {
  const cases: [string[], string | undefined][] = [
    [['Bearer abc'], 'abc'],
    [['bearer   abc '], 'abc'],
    [['Basic abc'], undefined],
    [['Bearer'], undefined],
    [['Bearer a b'], undefined],
    [[], undefined],
    [['Basic x', 'Bearer y'], 'y'],
  ];
  for (const [authorization, want] of cases) {
    assert.equal(bearerToken({ authorization }), want, JSON.stringify(authorization));
  }
});

test('node tokens: 0600 files, hashed store survives a restart, re-issue rotates', async (t) => {
  const dir = await tempDir(t);
  const reg = await NodeTokenRegistry.open(join(dir, 'ca'));
  const tokenFile = join(dir, 'node-1', 'ca-token');
  const token = await reg.issue('node-1', tokenFile);
  assert.equal((await readFile(tokenFile, 'utf8')).trim(), token);
  assert.equal(Buffer.from(token, 'base64url').length, 32);
  assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
  const store = join(dir, 'ca', NODE_TOKEN_STORE_FILE);
  assert.equal((await stat(store)).mode & 0o777, 0o600);
  assert.ok(!(await readFile(store, 'utf8')).includes(token), 'store holds hashes only');

  const auth = new NodeTokenAuthenticator(await NodeTokenRegistry.open(join(dir, 'ca')));
  assert.deepEqual(await auth.authenticate(bearer(token)), {
    kind: 'node',
    node: 'node-1',
    via: 'node-token',
  });
  assert.equal(await auth.authenticate({ authorization: [] }), undefined);
  await assert.rejects(auth.authenticate(bearer(`${token}x`)), (e) => {
    assert.ok(isAmbitError(e, 'AMBIT_CA_UNAUTHENTICATED'));
    assert.ok(!e.message.includes(token));
    return true;
  });

  const rotated = await reg.issue('node-1', tokenFile);
  assert.notEqual(rotated, token);
  assert.equal(reg.lookup(token), undefined);
  assert.equal(reg.lookup(rotated), 'node-1');
  assert.equal(await reg.revoke('node-1'), true);
  assert.equal(reg.lookup(rotated), undefined);
});

test('node tokens: a running registry sees tokens issued and revoked by another process', async (t) => {
  const dir = await tempDir(t);
  // The control plane's registry, and `issue-node-token` run later as a separate process.
  const plane = await NodeTokenRegistry.open(dir);
  const auth = new NodeTokenAuthenticator(plane);
  const cli = await NodeTokenRegistry.open(dir);
  const a = await cli.issue('node-a', join(dir, 'a.token'));
  assert.equal((await auth.authenticate(bearer(a)))?.node, 'node-a');

  // The plane's own write keeps node-a (merged, not overwritten with its stale view).
  const b = await plane.issue('node-b', join(dir, 'b.token'));
  const third = await NodeTokenRegistry.open(dir);
  assert.deepEqual(third.nodes(), ['node-a', 'node-b']);
  assert.equal(third.lookup(b), 'node-b');

  assert.equal(await third.revoke('node-a'), true);
  await assert.rejects(auth.authenticate(bearer(a)), isCode('AMBIT_CA_UNAUTHENTICATED'));

  // A corrupt rewrite keeps the tokens loaded before.
  await writeFile(join(dir, NODE_TOKEN_STORE_FILE), '{ not json');
  assert.equal((await auth.authenticate(bearer(b)))?.node, 'node-b');
});

test('node tokens: invalid node names and corrupt stores are refused', async (t) => {
  const dir = await tempDir(t);
  const reg = await NodeTokenRegistry.open(dir);
  for (const bad of ['', 'Node_1', '-x', 'a/b']) {
    await assert.rejects(reg.issue(bad, join(dir, 'tok')), isCode('AMBIT_CA_INVALID_REQUEST'));
  }
  await writeFile(join(dir, NODE_TOKEN_STORE_FILE), '{"version":1,"nodes":{"n":{"sha256":"zz"}}}');
  await assert.rejects(NodeTokenRegistry.open(dir), isCode('AMBIT_CA_TOKEN_STORE_INVALID'));
});

function fakeReviewer(tokens: Record<string, TokenReviewResult>) {
  const calls: { token: string; audiences: readonly string[] }[] = [];
  return {
    calls,
    review: async (token: string, audiences: readonly string[]) => {
      calls.push({ token, audiences });
      if (token === 'boom') throw Object.assign(new Error(`failed with ${token}`), { code: 503 });
      return tokens[token] ?? { authenticated: false, error: 'invalid bearer token' };
    },
  };
}

test('kubernetes tokens: node account acts for its bound node, others are workloads', async () => {
  const reviewer = fakeReviewer({
    zt: {
      authenticated: true,
      username: 'system:serviceaccount:istio-system:ztunnel',
      audiences: ['istio-ca'],
      extra: { 'authentication.kubernetes.io/node-name': ['node-a'] },
    },
    ztpod: {
      authenticated: true,
      username: 'system:serviceaccount:istio-system:ztunnel',
      extra: { 'authentication.kubernetes.io/pod-name': ['ztunnel-x'] },
    },
    app: { authenticated: true, username: 'system:serviceaccount:shop:web' },
    wrongaud: { authenticated: true, username: 'system:serviceaccount:shop:web', audiences: [] },
    user: { authenticated: true, username: 'alice' },
  });
  const auth = new KubernetesTokenAuthenticator({
    reviewer,
    trustDomain: 'cluster.local',
    podLookup: {
      nodeOfPod: async (ns, name) =>
        ns === 'istio-system' && name === 'ztunnel-x' ? 'node-b' : undefined,
    },
  });
  assert.deepEqual(await auth.authenticate(bearer('zt')), {
    kind: 'node',
    node: 'node-a',
    identity: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
    via: 'kubernetes',
  });
  assert.deepEqual(reviewer.calls[0]?.audiences, ['istio-ca']);
  assert.equal(((await auth.authenticate(bearer('ztpod'))) as { node: string }).node, 'node-b');
  assert.deepEqual(await auth.authenticate(bearer('app')), {
    kind: 'workload',
    identity: 'spiffe://cluster.local/ns/shop/sa/web',
    via: 'kubernetes',
  });
  for (const bad of ['wrongaud', 'user', 'nope']) {
    await assert.rejects(auth.authenticate(bearer(bad)), isCode('AMBIT_CA_UNAUTHENTICATED'), bad);
  }
  await assert.rejects(auth.authenticate(bearer('boom')), (e) => {
    assert.ok(isAmbitError(e, 'AMBIT_CA_AUTH_BACKEND_UNAVAILABLE'));
    assert.ok(!e.message.includes('boom'), 'reason does not echo the token');
    return true;
  });
});

test('kubernetes tokens: trusted node accounts are configurable', async () => {
  const reviewer = fakeReviewer({
    zt: { authenticated: true, username: 'system:serviceaccount:istio-system:ztunnel' },
    mine: {
      authenticated: true,
      username: 'system:serviceaccount:ambit:node-proxy',
      extra: { 'authentication.kubernetes.io/node-name': ['n1'] },
    },
  });
  const auth = new KubernetesTokenAuthenticator({
    reviewer,
    trustDomain: 'td',
    trustedNodeAccounts: ['ambit/node-proxy'],
  });
  assert.equal((await auth.authenticate(bearer('zt')))?.kind, 'workload');
  assert.equal((await auth.authenticate(bearer('mine')))?.kind, 'node');
});

test('chain authenticator: first success wins, reasons are combined, backend failure is UNAVAILABLE', async (t) => {
  const dir = await tempDir(t);
  const reg = await NodeTokenRegistry.open(dir);
  const nodeToken = await reg.issue('n1', join(dir, 'tok'));
  const kube = new KubernetesTokenAuthenticator({
    reviewer: fakeReviewer({ app: { authenticated: true, username: 'system:serviceaccount:a:b' } }),
    trustDomain: 'cluster.local',
  });
  const chain = new ChainAuthenticator([new NodeTokenAuthenticator(reg), kube]);
  assert.equal((await chain.authenticate(bearer(nodeToken))).kind, 'node');
  assert.equal((await chain.authenticate(bearer('app'))).kind, 'workload');
  await assert.rejects(chain.authenticate({ authorization: [] }), (e) => {
    assert.ok(isAmbitError(e, 'AMBIT_CA_UNAUTHENTICATED'));
    assert.match(e.message, /no credential/);
    return true;
  });
  await assert.rejects(chain.authenticate(bearer('other')), (e) => {
    assert.ok(isAmbitError(e, 'AMBIT_CA_UNAUTHENTICATED'));
    assert.match(e.message, /node-token: .*; kubernetes: /);
    return true;
  });
  const onlyKube = new ChainAuthenticator([
    new KubernetesTokenAuthenticator({ reviewer: fakeReviewer({}), trustDomain: 'td' }),
  ]);
  await assert.rejects(
    onlyKube.authenticate(bearer('boom')),
    isCode('AMBIT_CA_AUTH_BACKEND_UNAVAILABLE'),
  );
});

test('node authorizer: own identity, identities on own node, nothing else', () => {
  const table = new WorkloadIdentityTable();
  const web = 'spiffe://cluster.local/ns/shop/sa/web';
  const db = 'spiffe://cluster.local/ns/shop/sa/db';
  table.add('node-a', web);
  table.add('node-a', web);
  table.add('node-b', db);
  const authz = new NodeAuthorizer(table);
  const nodeA = { kind: 'node', node: 'node-a', via: 'node-token' } as const;
  const ztA = { ...nodeA, identity: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel' };
  const wl = { kind: 'workload', identity: web, via: 'certificate' } as const;
  const cases: [string, () => void, boolean][] = [
    ['node on own node', () => authz.authorize(nodeA, web), true],
    ['node impersonating other node', () => authz.authorize(nodeA, db), false],
    ['node own identity', () => authz.authorize(ztA, ztA.identity), true],
    ['workload own', () => authz.authorize(wl, web), true],
    ['workload other', () => authz.authorize(wl, db), false],
  ];
  for (const [name, fn, ok] of cases) {
    if (ok) assert.doesNotThrow(fn, name);
    else
      assert.throws(
        fn,
        (e) => isAmbitError(e, 'AMBIT_CA_PERMISSION_DENIED') && e.message.includes(db),
        name,
      );
  }
  assert.throws(() => authz.authorize(nodeA, db), /node "node-a" may not request .*db/);
  table.remove('node-a', web);
  assert.doesNotThrow(() => authz.authorize(nodeA, web), 'one workload with it is left');
  table.remove('node-a', web);
  assert.throws(() => authz.authorize(nodeA, web), isCode('AMBIT_CA_PERMISSION_DENIED'));
});
