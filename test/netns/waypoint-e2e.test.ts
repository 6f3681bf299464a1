// The waypoint's L7 features end to end, through `ambit up` (real
// namespaces, ztunnels, HBONE, waypoint pods) and the real CLI: routing,
// retries, timeouts, outlier ejection, rate limiting, L7 deny and bypass
// prevention, live config changes under load, a rejected route, and
// workload-addressed capture (`istio.io/waypoint-for`). One `up --detach` of
// test/netns/fixtures/waypoint-e2e shared by every subtest (the slow part),
// with its own run root (AMBIT_RUN_DIR); `ambit down` always runs in t.after.
//
// Requests are sent by apps/probe.mjs inside a client pod's netns (the pod's
// identity and capture); per-pod behaviour and counters are set and read on
// each backend's loopback (/ctl), which never crosses the mesh.
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterState, PodState } from '../../src/local/index.js';
import { listNetns } from '../../src/platform/index.js';
import { skipUnlessRoot } from '../helpers/netns.js';

const BIN = new URL('../../bin/ambit.js', import.meta.url).pathname;
const FIXTURE = new URL('./fixtures/waypoint-e2e', import.meta.url).pathname;
const PROBE = join(FIXTURE, 'apps/probe.mjs');
const NS = 'wpe';
const NODE_ENV = { ...process.env, NODE_V8_COVERAGE: '' };

interface Answer {
  status: number;
  ms: number;
  name: string | null;
  pod: string | null;
  requestId: string | null;
  added: string | null;
  retryAfter: string | null;
  body: string | null;
  error?: string;
}

function runState(root: string): ClusterState {
  const runs = readdirSync(root).filter((n) => existsSync(join(root, n, 'cluster.json')));
  assert.equal(runs.length, 1, `runs under ${root}: ${runs.join(',')}`);
  return JSON.parse(
    readFileSync(join(root, runs[0] as string, 'cluster.json'), 'utf8'),
  ) as ClusterState;
}

/** status → count, e.g. {"200 echo-v1": 80}. */
function tally(answers: readonly Answer[], key: (a: Answer) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[key(a)] = (out[key(a)] ?? 0) + 1;
  return out;
}

test('waypoint features end to end on ambit up: routing, resilience, policy, live changes, workload capture', async (t) => {
  if (skipUnlessRoot(t)) return;
  const root = mkdtempSync(join(tmpdir(), 'ambit-wpe2e-root-'));
  const env = { ...process.env, AMBIT_RUN_DIR: root };
  const ambit = (args: string[], timeout = 120_000): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout });
  const applyText = (text: string, verb = 'apply') =>
    spawnSync(process.execPath, [BIN, verb, '-f', '-'], {
      encoding: 'utf8',
      env,
      input: text,
      timeout: 120_000,
    });
  let runId: string | undefined;
  t.after(() => {
    const r = ambit(['down']);
    rmSync(root, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
    if (runId !== undefined)
      assert.deepEqual(
        listNetns().filter((n) => n.startsWith(`ambit-${runId}-`)),
        [],
        'ambit down left namespaces of this run',
      );
  });

  const started = Date.now();
  const up = ambit(['up', FIXTURE, '--detach', '--ready-timeout', '120'], 240_000);
  assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  t.diagnostic(`cluster up in ${Date.now() - started} ms`);
  runId = runState(root).runId;

  const pods = (deployment: string): PodState[] =>
    runState(root).pods.filter((p) => p.namespace === NS && p.deployment === deployment);
  const pod = (deployment: string): PodState => {
    const p = pods(deployment)[0];
    assert.ok(p, `no pod of ${deployment}`);
    return p;
  };
  const inPod = (p: PodState, args: string[], timeout = 30_000) =>
    spawnSync('ip', ['netns', 'exec', p.netns, ...args], {
      encoding: 'utf8',
      timeout,
      env: NODE_ENV,
    });
  /** Requests from a client pod, one at a time over a keep-alive connection. */
  const probe = (
    client: string,
    url: string,
    count: number,
    headers: Record<string, string> = {},
  ): Answer[] => {
    const r = inPod(
      pod(client),
      [process.execPath, PROBE, JSON.stringify({ url, count, headers })],
      120_000,
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    return JSON.parse(r.stdout) as Answer[];
  };
  /** Sets or reads a backend pod's knobs and counters on its loopback. */
  const ctl = (p: PodState, query = '') => {
    const r = inPod(p, ['curl', '-sSf', '-m', '5', `http://127.0.0.1:8080/ctl?${query}`]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { served: number; failed: number; pod: string };
  };
  const waypointPod = (name: string): PodState => {
    const p = runState(root).pods.find(
      (x) => x.namespace === NS && x.labels['gateway.networking.k8s.io/gateway-name'] === name,
    );
    assert.ok(p, `no pod for waypoint ${name}`);
    return p;
  };
  const metrics = (wp: string): string => {
    const r = inPod(waypointPod(wp), ['curl', '-sS', '-m', '5', 'http://127.0.0.1:15020/metrics']);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  /** Sum of istio_requests_total samples whose labels include every `want` pair. */
  const requestsTotal = (text: string, want: Record<string, string>): number => {
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('istio_requests_total{')) continue;
      if (!Object.entries(want).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  };
  const configDump = (wp: string) => {
    const r = inPod(waypointPod(wp), [
      'curl',
      '-sS',
      '-m',
      '5',
      'http://127.0.0.1:15000/config_dump',
    ]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as {
      configVersion: number;
      services: {
        key: string;
        routes: string[];
        policies: number;
        backend?: { sources?: string[] } | null;
      }[];
    };
  };
  /** Waits until the waypoint's pushed config satisfies `pred` (the push follows `ambit apply`). */
  const waitConfig = async (
    wp: string,
    what: string,
    pred: (d: ReturnType<typeof configDump>) => boolean,
  ) => {
    const until = Date.now() + 20_000;
    for (;;) {
      const d = configDump(wp);
      if (pred(d)) return d;
      if (Date.now() > until)
        assert.fail(`waypoint ${wp}: ${what} not pushed: ${JSON.stringify(d)}`);
      await sleep(200);
    }
  };
  const svcKey = (name: string) => `${NS}/${name}.${NS}.svc.cluster.local`;

  await t.test('the waypoints are programmed and serve the bound Services', () => {
    const r = ambit(['waypoint', 'list', '-n', NS, '-o', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout) as {
      name: string;
      programmed: boolean;
      services: string[];
    }[];
    assert.deepEqual(list.map((w) => [w.name, w.programmed]).sort(), [
      ['waypoint', true],
      ['wlwp', true],
    ]);
    const services = configDump('waypoint').services.map((s) => s.key);
    for (const s of ['echo', 'pool', 'slow', 'limited', 'secure'])
      assert.ok(services.includes(svcKey(s)), `waypoint serves ${s}: ${services.join(', ')}`);
  });

  await t.test('1. weighted split 80/20 and header match (x-version: v2 → echo-v2)', () => {
    const split = tally(probe('client', 'http://echo.wpe/', 100), (a) => `${a.status} ${a.name}`);
    t.diagnostic(`echo split: ${JSON.stringify(split)}`);
    const v1 = split['200 echo-v1'] ?? 0;
    const v2 = split['200 echo-v2'] ?? 0;
    assert.equal(v1 + v2, 100, `every request answered by v1 or v2: ${JSON.stringify(split)}`);
    // 20% of 100: P(v2 < 6 or v2 > 38) is below 1e-4.
    assert.ok(v2 >= 6 && v2 <= 38, `≈20% v2, got ${v2}`);
    const header = tally(
      probe('client', 'http://echo.wpe/', 20, { 'x-version': 'v2' }),
      (a) => `${a.status} ${a.name}`,
    );
    assert.deepEqual(header, { '200 echo-v2': 20 });
  });

  const poolPods = () => {
    const ps = pods('pool');
    assert.equal(ps.length, 3);
    return ps;
  };

  await t.test(
    "2. retries: a failing pod's 503s reach the client without retry, become 200s with it",
    async () => {
      const [bad, ...good] = poolPods() as [PodState, ...PodState[]];
      ctl(bad, 'fail=-1&reset=1');
      for (const p of good) ctl(p, 'reset=1');
      // No route, no retry policy: round robin over 3 pods, one always 503.
      const before = probe('client', 'http://pool.wpe/', 30);
      const failures = before.filter((a) => a.status === 503);
      assert.equal(
        failures.length,
        10,
        `one in three fails: ${JSON.stringify(tally(before, (a) => `${a.status} ${a.pod}`))}`,
      );
      assert.ok(
        failures.every((a) => a.pod === bad.name),
        'failures come from the failing pod',
      );

      const base = requestsTotal(metrics('waypoint'), { response_flags: 'URX' });
      const r = applyText(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: pool, namespace: ${NS}}
spec:
  parentRefs: [{group: "", kind: Service, name: pool, port: 80}]
  rules:
  - backendRefs: [{name: pool, port: 80}]
    retry: {codes: [503], attempts: 2, backoff: 10ms}
`);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /httproute\.gateway\.networking\.k8s\.io\/pool created/);
      await waitConfig('waypoint', 'route pool', (d) =>
        d.services.some((s) => s.key === svcKey('pool') && s.routes.includes(`${NS}/pool#0`)),
      );
      const badBefore = ctl(bad).failed;
      const after = probe('client', 'http://pool.wpe/', 30);
      assert.deepEqual(
        tally(after, (a) => String(a.status)),
        { '200': 30 },
        'every request succeeds',
      );
      assert.ok(
        after.every((a) => a.pod !== bad.name),
        'no answer from the failing pod',
      );
      const retried = ctl(bad).failed - badBefore;
      assert.ok(retried >= 5, `the failing pod was still tried (and retried away): ${retried}`);
      // The waypoint counts the retried requests with flag URX.
      const urx = requestsTotal(metrics('waypoint'), { response_flags: 'URX' }) - base;
      assert.ok(urx >= 5, `istio_requests_total{response_flags="URX"} grew by ${urx}`);
      assert.ok(
        requestsTotal(metrics('waypoint'), { reporter: 'waypoint', response_code: '200' }) > 0,
        'waypoint reports istio_requests_total',
      );
    },
  );

  await t.test(
    '3. timeouts: request and backendRequest give 504 in about the configured time',
    () => {
      const ok = probe('client', 'http://slow.wpe/fast?delay=50', 3);
      assert.deepEqual(
        tally(ok, (a) => `${a.status} ${a.name}`),
        { '200 slow': 3 },
      );
      // timeouts.request 500ms against a 3 s answer.
      const late = probe('client', 'http://slow.wpe/x?delay=3000', 2);
      for (const a of late) {
        assert.equal(a.status, 504, JSON.stringify(a));
        assert.equal(a.body, 'upstream request timeout');
        assert.ok(a.ms >= 400 && a.ms < 2500, `504 after ${a.ms} ms (request timeout 500 ms)`);
      }
      // timeouts.backendRequest 300ms (request 2s): the attempt times out first.
      const attempt = probe('client', 'http://slow.wpe/br?delay=3000', 2);
      for (const a of attempt) {
        assert.equal(a.status, 504, JSON.stringify(a));
        assert.ok(
          a.ms >= 250 && a.ms < 1900,
          `504 after ${a.ms} ms (backendRequest 300 ms, request 2 s)`,
        );
      }
      assert.deepEqual(
        tally(probe('client', 'http://slow.wpe/br?delay=100', 2), (a) => String(a.status)),
        { '200': 2 },
      );
    },
  );

  /** Sends 30 requests to pool with one pod failing; exactly two failures, then it is ejected. */
  const ejectionRun = (bad: PodState, good: PodState[]) => {
    ctl(bad, 'fail=-1&reset=1');
    for (const p of good) ctl(p, 'reset=1');
    const answers = probe('client', 'http://pool.wpe/', 30);
    const failed = answers.flatMap((a, i) => (a.status === 503 ? [i] : []));
    // consecutive5xxErrors: 2 → the failing pod answers twice, then is ejected.
    assert.equal(
      failed.length,
      2,
      `two failures, then ejected: ${JSON.stringify(tally(answers, (a) => `${a.status} ${a.pod}`))}`,
    );
    assert.ok((failed[1] ?? 99) < 10, `ejected early: failures at ${failed.join(',')}`);
    assert.ok(
      answers.slice((failed[1] ?? 0) + 1).every((a) => a.status === 200 && a.pod !== bad.name),
    );
    assert.equal(ctl(bad).failed, 2, 'the ejected pod got no more requests');
  };

  await t.test('4. outlier detection ejects the failing pod; never every endpoint', async () => {
    const [bad, ...good] = poolPods() as [PodState, ...PodState[]];
    // Without the retry route, so the client sees each failure.
    let r = applyText(
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: pool, namespace: ${NS}}
`,
      'delete',
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    r = applyText(`
apiVersion: policy.ambit.dev/v1alpha1
kind: BackendPolicy
metadata: {name: pool-outlier, namespace: ${NS}}
spec:
  targetRefs: [{group: "", kind: Service, name: pool}]
  outlierDetection: {consecutive5xxErrors: 2, baseEjectionTime: 3s, maxEjectionPercent: 100}
`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    await waitConfig('waypoint', 'BackendPolicy pool-outlier without the pool route', (d) =>
      d.services.some(
        (s) =>
          s.key === svcKey('pool') &&
          s.routes.length === 0 &&
          (s.backend?.sources ?? []).includes(`${NS}/pool-outlier`),
      ),
    );
    ejectionRun(bad, good);

    // Every pod failing: ejection stops short of the last endpoint, so the
    // client gets the app's own 503s, never "no healthy upstream".
    for (const p of good) ctl(p, 'fail=-1');
    const all = probe('client', 'http://pool.wpe/', 12);
    assert.ok(
      all.every((a) => a.status === 503),
      JSON.stringify(tally(all, (a) => `${a.status}`)),
    );
    assert.ok(
      all.every((a) => a.pod !== null && a.body === null),
      `answers come from a pod, not the waypoint: ${JSON.stringify(all.slice(-3))}`,
    );
    for (const p of poolPods()) ctl(p, 'fail=0');
  });

  await t.test(
    "4b. a route backend's own DestinationRule outlierDetection ejects its failing pod",
    async () => {
      const [bad, ...good] = poolPods() as [PodState, ...PodState[]];
      // pool → pool-backend (the same pods); the DestinationRule is for the
      // backend's host, and pool itself keeps no outlier settings.
      let r = applyText(
        `apiVersion: policy.ambit.dev/v1alpha1
kind: BackendPolicy
metadata: {name: pool-outlier, namespace: ${NS}}
`,
        'delete',
      );
      assert.equal(r.status, 0, r.stdout + r.stderr);
      r = applyText(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pool-backend, namespace: ${NS}}
spec:
  host: pool-backend.${NS}.svc.cluster.local
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 2, baseEjectionTime: 60s, maxEjectionPercent: 50}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: pool, namespace: ${NS}}
spec:
  parentRefs: [{group: "", kind: Service, name: pool, port: 80}]
  rules:
  - backendRefs: [{name: pool-backend, port: 80}]
`);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      await waitConfig(
        'waypoint',
        'route pool → pool-backend, pool without outlier settings',
        (d) =>
          d.services.some(
            (s) =>
              s.key === svcKey('pool') &&
              s.routes.includes(`${NS}/pool#0`) &&
              !(s.backend?.sources ?? []).includes(`${NS}/pool-outlier`),
          ),
      );
      // The ejections of step 4 (3 s) are over by now.
      await sleep(3200);
      ejectionRun(bad, good);
      ctl(bad, 'fail=0');
    },
  );

  await t.test(
    '5. local rate limit: 429 + retry-after when the bucket is empty, per identity, recovers',
    async () => {
      const a = probe('client', 'http://limited.wpe/', 8);
      assert.deepEqual(
        a.map((x) => x.status),
        [200, 200, 200, 200, 200, 429, 429, 429],
        'burst 5, then 429',
      );
      const retryAfter = a.slice(5).map((x) => Number(x.retryAfter));
      assert.ok(
        retryAfter.every((s) => s >= 1 && s <= 3),
        `retry-after in 1..3 s: ${retryAfter}`,
      );
      assert.equal(a[5]?.body, 'local_rate_limited');
      // perSourceIdentity: client-b has its own bucket.
      const b = probe('client-b', 'http://limited.wpe/', 5);
      assert.deepEqual(
        b.map((x) => x.status),
        [200, 200, 200, 200, 200],
        'another identity is not limited by client',
      );
      await sleep(Math.max(...retryAfter) * 1000 + 200);
      const again = probe('client', 'http://limited.wpe/', 1);
      assert.equal(again[0]?.status, 200, 'recovers after retry-after');
      assert.ok(
        requestsTotal(metrics('waypoint'), { response_code: '429', response_flags: 'RL' }) >= 3,
        'rate-limited requests counted with flag RL',
      );
    },
  );

  await t.test(
    '6. L7 deny (403 RBAC: access denied) by targetRefs; the pod address is refused',
    () => {
      const ok = probe('client', 'http://secure.wpe/', 2);
      assert.deepEqual(
        tally(ok, (x) => `${x.status} ${x.name}`),
        { '200 echo-v2': 2 },
      );
      const denied = probe('client-b', 'http://secure.wpe/', 2);
      for (const d of denied) {
        assert.equal(d.status, 403);
        assert.equal(d.body, 'RBAC: access denied');
      }
      // Dialling the pod skips the waypoint: refused at the pod's ztunnel, even
      // for client (whom the L7 policy allows).
      const target = pod('echo-v2');
      const direct = probe('client', `http://${target.ip}:8080/`, 1)[0];
      assert.equal(direct?.status, 0, `bypassed the waypoint: ${JSON.stringify(direct)}`);
    },
  );

  await t.test(
    '6b. ambit.dev/allow-waypoint-bypass on a Service opens its pods to direct calls, live; removing it closes them again',
    async () => {
      const slowService = (annotations: string) => `apiVersion: v1
kind: Service
metadata:
  name: slow
  namespace: ${NS}
  labels: {istio.io/use-waypoint: waypoint}
  annotations: {${annotations}}
spec:
  selector: {app: slow}
  ports: [{name: http, port: 80, targetPort: 8080, appProtocol: http}]
`;
      const direct = () => probe('client', `http://${pod('slow').ip}:8080/`, 1)[0]?.status;
      const until = async (want: number, what: string) => {
        const deadline = Date.now() + 30_000;
        let got = direct();
        while (got !== want && Date.now() < deadline) {
          await sleep(500);
          got = direct();
        }
        assert.equal(got, want, what);
      };
      assert.equal(direct(), 0, 'guarded before the annotation');
      let r = applyText(slowService('"ambit.dev/allow-waypoint-bypass": "true"'));
      assert.equal(r.status, 0, r.stderr);
      await until(200, 'the annotated Service still refused a direct call');
      // The Service path still goes through the waypoint.
      assert.deepEqual(
        tally(probe('client', 'http://slow.wpe/', 2), (x) => `${x.status} ${x.name}`),
        { '200 slow': 2 },
      );
      r = applyText(slowService(''));
      assert.equal(r.status, 0, r.stderr);
      await until(0, 'removing the annotation did not restore bypass prevention');
    },
  );

  await t.test(
    '6c. ambit label svc … istio.io/use-waypoint binds a Service to the waypoint live, and unbinds it',
    async () => {
      // echo-v1's pods are behind the waypoint for echo: a direct call to the
      // echo-v1 Service is refused by bypass prevention until it is bound too.
      const call = () => probe('client', 'http://echo-v1.wpe/', 1)[0];
      const until = async (ok: (a: Answer | undefined) => boolean, what: string) => {
        const deadline = Date.now() + 30_000;
        let got = call();
        while (!ok(got) && Date.now() < deadline) {
          await sleep(500);
          got = call();
        }
        assert.ok(ok(got), `${what}: ${JSON.stringify(got)}`);
      };
      assert.equal(call()?.status, 0, 'echo-v1 is not bound yet: refused at the pod');
      let r = ambit(['label', 'svc', 'echo-v1', '-n', NS, 'istio.io/use-waypoint=waypoint']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /service\/echo-v1 labeled/);
      await until((a) => a?.status === 200 && a.name === 'echo-v1', 'bound: through the waypoint');
      assert.ok(
        requestsTotal(metrics('waypoint'), { destination_service_name: 'echo-v1' }) >= 1,
        'the waypoint counted the bound Service',
      );
      r = ambit(['label', 'svc', 'echo-v1', '-n', NS, 'istio.io/use-waypoint-']);
      assert.equal(r.status, 0, r.stderr);
      await until((a) => a?.status === 0, 'unbound: refused again');
      r = ambit(['label', 'svc', 'nope', '-n', NS, 'a=b']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /service wpe\/nope not found/);
    },
  );

  await t.test(
    '7. live route and policy changes under a steady stream: no failed request, no restart',
    async () => {
      const wpBefore = waypointPod('waypoint');
      const stop = join(root, 'stop-stream');
      const client = pod('client');
      const stream = spawn(
        'ip',
        [
          'netns',
          'exec',
          client.netns,
          process.execPath,
          PROBE,
          JSON.stringify({ url: 'http://echo.wpe/', untilFile: stop, maxMs: 90_000 }),
        ],
        { env: NODE_ENV },
      );
      let out = '';
      stream.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => stream.once('exit', resolve));
      t.after(() => stream.kill('SIGKILL'));
      await sleep(1500);
      // Route weights: everything to echo-v2 now.
      let r = applyText(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo, namespace: ${NS}}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
  rules:
  - matches: [{headers: [{name: x-version, value: v2}]}]
    backendRefs: [{name: echo-v2, port: 80}]
  - backendRefs:
    - {name: echo-v1, port: 80, weight: 0}
    - {name: echo-v2, port: 80, weight: 100}
`);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /httproute\.gateway\.networking\.k8s\.io\/echo configured/);
      const switched = Date.now();
      await sleep(2500);
      // A policy on the same Service (client stays allowed).
      r = applyText(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: echo-allow-clients, namespace: ${NS}}
spec:
  targetRefs: [{group: "", kind: Service, name: echo}]
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/wpe/sa/client"]}}]
`);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      await waitConfig('waypoint', 'policy on echo', (d) =>
        d.services.some((s) => s.key === svcKey('echo') && s.policies === 1),
      );
      const policed = Date.now();
      await sleep(1500);
      writeFileSync(stop, '');
      assert.equal(await exited, 0, out);
      const answers = JSON.parse(out) as Answer[];
      t.diagnostic(
        `stream: ${answers.length} requests, ${JSON.stringify(tally(answers, (a) => `${a.status} ${a.name}`))}`,
      );
      assert.ok(answers.length >= 50, `a steady stream: ${answers.length} requests`);
      const failed = answers.filter((a) => a.status < 200 || a.status > 299);
      assert.deepEqual(failed, [], 'no request failed while config changed');
      // The new weights took effect: the tail of the stream is all echo-v2.
      const tail = answers.slice(-20);
      assert.ok(
        tail.every((a) => a.name === 'echo-v2'),
        `tail: ${JSON.stringify(tally(tail, (a) => String(a.name)))}`,
      );
      assert.ok(
        answers.some((a) => a.name === 'echo-v1'),
        'the stream started on the old 80/20 routes',
      );
      // The policy is in force (client-b is now denied) and the waypoint never restarted.
      assert.equal(probe('client-b', 'http://echo.wpe/', 1)[0]?.status, 403);
      const wpAfter = waypointPod('waypoint');
      assert.equal(wpAfter.name, wpBefore.name);
      assert.deepEqual(wpAfter.pids, wpBefore.pids, 'waypoint restarted');
      assert.equal(wpAfter.restarts, wpBefore.restarts);
      t.diagnostic(`policy applied ${policed - switched} ms after the route`);
    },
  );

  await t.test(
    '8. an invalid HTTPRoute is rejected by name with the reason; the previous routes stay',
    () => {
      const bad = (rules: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo, namespace: ${NS}}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
  rules:
${rules}`;
      const cases: [string, string, RegExp][] = [
        [
          'bad regex',
          `  - matches: [{path: {type: RegularExpression, value: "/v[0-9+"}}]
    backendRefs: [{name: echo-v1, port: 80}]`,
          /regular expression/i,
        ],
        [
          'weight out of range',
          `  - backendRefs: [{name: echo-v1, port: 80, weight: 2000000}]`,
          /weight/,
        ],
        [
          'unknown filter type',
          `  - filters: [{type: Teleport}]
    backendRefs: [{name: echo-v1, port: 80}]`,
          /type/,
        ],
      ];
      const seq = runState(root).applied?.seq;
      for (const [what, rules, reason] of cases) {
        const r = applyText(bad(rules));
        assert.equal(r.status, 1, `${what} accepted: ${r.stdout}`);
        assert.match(r.stderr, /HTTPRoute wpe\/echo/, what);
        assert.match(r.stderr, reason, `${what}: ${r.stderr}`);
        assert.match(r.stderr, /nothing was applied/);
      }
      assert.equal(runState(root).applied?.seq, seq, 'something was stored');
      // Still the routes of step 7: everything to echo-v2.
      const answers = probe('client', 'http://echo.wpe/', 20);
      assert.deepEqual(
        tally(answers, (a) => `${a.status} ${a.name}`),
        { '200 echo-v2': 20 },
      );
    },
  );

  await t.test(
    '9. istio.io/waypoint-for: a service waypoint leaves pod-addressed traffic alone; a workload waypoint takes it',
    async () => {
      const target = pod('target');
      const url = `http://${target.ip}:8080/`;
      const through = () => requestsTotal(metrics('wlwp'), { reporter: 'waypoint' });
      // wlwp is `service`: the pod's opt-in does not capture pod-addressed traffic.
      const base = through();
      assert.deepEqual(
        probe('client', 'http://target.wpe/', 2).map((x) => `${x.status} ${x.requestId}`),
        ['200 null', '200 null'],
        'the unbound target Service works, without a waypoint',
      );
      let a = probe('client', url, 3);
      assert.deepEqual(
        tally(a, (x) => `${x.status} ${x.name}`),
        { '200 target': 3 },
      );
      assert.ok(
        a.every((x) => x.requestId === null),
        'went through a waypoint',
      );
      assert.equal(through(), base, 'wlwp saw pod-addressed traffic as a service waypoint');

      const r = ambit(['waypoint', 'apply', '-n', NS, '--name', 'wlwp', '--for', 'workload']);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /gateway\.gateway\.networking\.k8s\.io\/wlwp configured/);
      const list = JSON.parse(ambit(['waypoint', 'list', '-n', NS, '-o', 'json']).stdout) as {
        name: string;
        for: string;
      }[];
      assert.equal(list.find((w) => w.name === 'wlwp')?.for, 'workload');
      // Pod-addressed traffic now goes through wlwp (which stamps x-request-id).
      let ok = false;
      const until = Date.now() + 20_000;
      while (!ok && Date.now() < until) {
        a = probe('client', url, 1);
        ok = a[0]?.status === 200 && a[0]?.requestId !== null;
        if (!ok) await sleep(300);
      }
      assert.ok(ok, `pod-addressed traffic not through wlwp: ${JSON.stringify(a)}`);
      const before = through();
      a = probe('client', url, 5);
      assert.deepEqual(
        tally(a, (x) => `${x.status} ${x.name}`),
        { '200 target': 5 },
      );
      assert.ok(
        a.every((x) => x.requestId !== null),
        'a request skipped wlwp',
      );
      assert.equal(through() - before, 5, 'wlwp counted each pod-addressed request');
      const status = ambit(['waypoint', 'status', '-n', NS, '--name', 'wlwp']);
      assert.equal(status.status, 0, status.stdout + status.stderr);
      assert.match(status.stdout, new RegExp(`wlwp\\s+True\\s+.*serving pod/${target.name}`));
      // L7 policy on the workload waypoint (targetRefs: its Gateway) applies to pod-addressed traffic.
      const r2 = applyText(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: wlwp-deny-admin, namespace: ${NS}}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: wlwp}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
`);
      assert.equal(r2.status, 0, r2.stdout + r2.stderr);
      await waitConfig('wlwp', 'policy wlwp-deny-admin', (d) =>
        d.services.some((s) => s.key.endsWith('.pod.cluster.local') && s.policies === 1),
      );
      assert.deepEqual(
        probe('client', `http://${target.ip}:8080/admin`, 1).map((x) => [x.status, x.body]),
        [[403, 'RBAC: access denied']],
      );
      assert.equal(probe('client', url, 1)[0]?.status, 200);

      // Istio sends Service-addressed traffic straight to the pod (a workload
      // waypoint takes only pod-addressed traffic); ambit's bypass prevention
      // then refuses it at the pod, which accepts only its own waypoint
      // (docs/waypoint.md, "Bypass prevention"): bind the Service too.
      const viaService = probe('client', 'http://target.wpe/', 1)[0];
      assert.equal(viaService?.status, 0, `Service path: ${JSON.stringify(viaService)}`);
      const log = ambit(['logs', '-n', 'istio-system', `ztunnel-${target.node}`]);
      assert.match(
        log.stdout,
        new RegExp(
          `AMBIT_PROXY_WAYPOINT_BYPASS.*${target.name}|${target.name}.*AMBIT_PROXY_WAYPOINT_BYPASS`,
        ),
      );
    },
  );
});
