// Bad input at the waypoint, black-box: `ambit waypoint run` as a child
// process on a loopback "pod" IP, clients that open HBONE tunnels to it with
// mesh certificates (test/helpers/waypoint.ts) and write raw bytes into them,
// a backend that counts what reaches it. Each case checks the exact status or
// close, that nothing bad reached the backend, that the process is still up,
// and that a well-behaved client on another tunnel kept getting 200s at the
// same time. Memory is read from /proc/<pid>/status. docs/waypoint.md,
// "Limits and protections", lists the limits asserted here.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { HboneSession } from '../../src/proxy/hbone/index.js';
import { until } from '../helpers/hbone.js';
import {
  collect,
  goawayCode,
  H1Reader,
  H2,
  h2Frame,
  h2Frames,
  hpack,
  type MeshClient,
  meshClient,
  spawnWaypoint,
  type WaypointProcess,
} from '../helpers/waypoint.js';
import { loopbackMesh, untilReady } from '../helpers/ztunnel.js';

const NS = 'shop';
const H = (n: string) => `${n}.${NS}.svc.cluster.local`;
const MIB = 1024 * 1024;
const HEADERS_TIMEOUT = '2s';
/** A hang guard per case, not a timing assertion. */
const CASE = { timeout: 120_000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A condition that turns true after `ms`. */
function sleepFor(ms: number): () => boolean {
  const end = Date.now() + ms;
  return () => Date.now() >= end;
}

/** The waypoint's peak RSS (KiB), sampled every 50 ms until `done()`. */
async function sampleRss(wp: WaypointProcess, done: () => boolean): Promise<number> {
  let peak = wp.rssKib();
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > 30_000) throw new Error('timed out sampling RSS');
    peak = Math.max(peak, wp.rssKib());
    await sleep(50);
  }
  return Math.max(peak, wp.rssKib());
}

/** The app behind the waypoint: counts every request by path. */
interface Backend {
  port: number;
  hits: Map<string, number>;
  /** Requests other than the probe's. */
  others(): number;
  /** /upload bodies: bytes so far, SHA-256 once complete, or aborted (the request closed early). */
  uploads: { bytes: number; sha?: string; aborted?: boolean }[];
  /** Set to hold /upload bodies unread (a slow backend); call the result to read them. */
  holdUploads(): () => void;
  /** /download responses: `released` once their connection closed before the end. */
  downloads: { released: boolean }[];
  /** `host|x-seq` of every /mirror request (mirrored copies have a `-shadow` host). */
  mirrored: string[];
  close(): void;
}

async function startBackend(ip: string): Promise<Backend> {
  const hits = new Map<string, number>();
  const uploads: Backend['uploads'] = [];
  const downloads: Backend['downloads'] = [];
  const mirrored: string[] = [];
  let held: (() => void)[] | undefined;
  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    if (path === '/upload') {
      const u: Backend['uploads'][number] = { bytes: 0 };
      uploads.push(u);
      req.once('close', () => {
        if (!req.complete) u.aborted = true;
      });
      const hash = createHash('sha256');
      const read = () => {
        req.on('data', (c: Buffer) => {
          u.bytes += c.length;
          hash.update(c);
        });
        req.on('end', () => {
          u.sha = hash.digest('hex');
          res.end(String(u.bytes));
        });
        req.resume();
      };
      if (held) {
        req.pause();
        held.push(read);
      } else read();
      return;
    }
    req.resume();
    if (path === '/mirror') mirrored.push(`${req.headers.host}|${req.headers['x-seq']}`);
    req.on('end', () => {
      if (path === '/big-response-head') {
        res.writeHead(200, { 'x-big': 'a'.repeat(64 * 1024) });
        res.end('too big');
      } else if (path === '/retry') {
        // Every odd request fails: a retried request sees 200, an unretried one 503.
        res.writeHead(n % 2 === 1 ? 503 : 200);
        res.end(n % 2 === 1 ? 'fail' : 'ok');
      } else if (path === '/download') {
        const mib = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('mib') ?? '1');
        res.writeHead(200, { 'content-length': String(mib * MIB) });
        const d = { released: false };
        downloads.push(d);
        res.once('close', () => {
          if (!res.writableFinished) d.released = true;
        });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let left = mib * 16;
        const pump = () => {
          while (left > 0) {
            left--;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      } else {
        res.end(path === '/probe' ? 'ok' : `hello ${path}`);
      }
    });
  });
  server.on('clientError', (_e, s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, ip, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    hits,
    others: () => [...hits].filter(([p]) => p !== '/probe').reduce((s, [, n]) => s + n, 0),
    uploads,
    downloads,
    mirrored,
    holdUploads() {
      held = [];
      return () => {
        const h = held ?? [];
        held = undefined;
        for (const f of h) f();
      };
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** A TCP echo server (the opaque services' app). */
async function startEcho(ip: string): Promise<{ port: number; close(): void }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, ip, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => server.close(),
  };
}

/**
 * A well-behaved client: GET /probe on one keep-alive tunnel of its own
 * HBONE session, back to back, recording every status that is not 200.
 */
function startProbe(client: MeshClient, authority: string) {
  let ok = 0;
  const failures: string[] = [];
  let stopped = false;
  let session: HboneSession | undefined;
  const loop = (async () => {
    while (!stopped) {
      try {
        session ??= await client.session();
        const tunnel = await client.tunnel(session, authority);
        const reader = new H1Reader(tunnel);
        while (!stopped) {
          tunnel.write(`GET /probe HTTP/1.1\r\nhost: ${H('app')}\r\n\r\n`);
          const r = await reader.next();
          if (r.status === 200 && r.body.toString() === 'ok') ok++;
          else failures.push(`status ${r.status}: ${r.body.toString().slice(0, 100)}`);
          await sleep(20);
        }
        tunnel.end();
      } catch (err) {
        if (!stopped) failures.push(`error: ${(err as Error).message}`);
        session?.destroy();
        session = undefined;
        await sleep(50);
      }
    }
  })();
  return {
    get ok() {
      return ok;
    },
    /** Waits for `n` more successes and fails if anything went wrong so far. */
    async healthy(n = 3): Promise<void> {
      const target = ok + n;
      const start = Date.now();
      while (ok < target && failures.length === 0) {
        if (Date.now() - start > 30_000) throw new Error('probe made no progress in 30 s');
        await sleep(20);
      }
      assert.deepEqual(failures, [], 'the well-behaved client saw failures');
    },
    async stop(): Promise<void> {
      stopped = true;
      session?.destroy();
      await loop;
    },
  };
}

/** Sends `bytes` on a fresh tunnel and collects the answer until the waypoint closes it. */
async function rawExchange(
  client: MeshClient,
  session: HboneSession,
  authority: string,
  bytes: Buffer | string,
  opts: { end?: boolean } = {},
) {
  const tunnel = await client.tunnel(session, authority);
  const result = collect(tunnel);
  if (opts.end) tunnel.end(bytes);
  else tunnel.write(bytes);
  const r = await result;
  return { ...r, text: r.data.toString('latin1') };
}

interface Fixture {
  wp: WaypointProcess;
  backend: Backend;
  client: MeshClient;
  /** Authorities (VIP:port) of the Services. */
  http: string;
  /** The same app, reached over HBONE through its ztunnel. */
  meshed: string;
  tcp: string;
  sniffed: string;
}

async function setup(t: TestContext, args: string[]): Promise<Fixture> {
  const mesh = loopbackMesh(t);
  const wpIp = mesh.ip(9);
  const appIp = mesh.ip(3);
  const backend = await startBackend(appIp);
  const echo = await startEcho(appIp);
  t.after(() => {
    backend.close();
    echo.close();
  });
  const vip = {
    http: mesh.ip(100),
    tcp: mesh.ip(101),
    sniffed: mesh.ip(102),
    meshed: mesh.ip(103),
  };
  // The app's node ztunnel, for the endpoint reached over HBONE.
  mesh.writeConfig(`
workloads:
- {name: app, namespace: ${NS}, serviceAccount: app, workloadIps: ["${appIp}"], protocol: HBONE}
- {name: waypoint, namespace: ${NS}, serviceAccount: waypoint, workloadIps: ["${wpIp}"], protocol: HBONE}
`);
  await untilReady(await mesh.startZtunnel(`${NS}/app/app`, appIp));
  const svc = (name: string, ip: string, port: number, appProtocol: string, extra = {}) => ({
    name,
    namespace: NS,
    hostname: H(name),
    waypoint: `${NS}/waypoint`,
    vips: [ip],
    ports: [{ port, name: appProtocol || 'port', appProtocol }],
    ...extra,
  });
  const eps = (name: string, port: number, target: number, hbone = false) => ({
    name,
    namespace: NS,
    hostname: H(name),
    endpoints: [
      {
        workloadUid: `${name}-0`,
        address: appIp,
        ports: { [port]: target },
        hbone,
        ...(hbone ? { identity: `spiffe://cluster.local/ns/${NS}/sa/app` } : {}),
        healthy: true,
      },
    ],
  });
  const config = join(mesh.dir, 'waypoint.json');
  writeFileSync(
    config,
    JSON.stringify({
      services: [
        svc('app', vip.http, 80, 'http', {
          routes: [
            {
              route: `${NS}/app`,
              match: { path: '/retry' },
              backends: [{ service: `${NS}/${H('app')}`, port: 80, weight: 1 }],
              retry: { codes: [503], attempts: 1, backoffMs: '1' },
            },
            {
              route: `${NS}/app`,
              ruleIndex: 2,
              match: { path: '/mirror' },
              filters: [
                { requestMirror: { service: `${NS}/${H('shadow')}`, port: 80, percent: 100 } },
              ],
              backends: [{ service: `${NS}/${H('app')}`, port: 80, weight: 1 }],
            },
            {
              route: `${NS}/app`,
              ruleIndex: 1,
              match: { path: '/' },
              backends: [{ service: `${NS}/${H('app')}`, port: 80, weight: 1 }],
            },
          ],
        }),
        svc('meshed', vip.meshed, 80, 'http'),
        svc('shadow', mesh.ip(104), 80, 'http'),
        svc('db', vip.tcp, 9000, 'tcp'),
        svc('legacy', vip.sniffed, 7000, ''),
      ],
      endpoints: [
        eps('app', 80, backend.port),
        eps('meshed', 80, backend.port, true),
        eps('shadow', 80, backend.port),
        eps('db', 9000, echo.port),
        eps('legacy', 7000, echo.port),
      ],
    }),
  );
  const wp = await spawnWaypoint(t, {
    ip: wpIp,
    namespace: NS,
    config,
    caDir: mesh.caDir,
    args,
  });
  const client = await meshClient(mesh.caDir, wp, NS, 'client');
  return {
    wp,
    backend,
    client,
    http: `${vip.http}:80`,
    meshed: `${vip.meshed}:80`,
    tcp: `${vip.tcp}:9000`,
    sniffed: `${vip.sniffed}:7000`,
  };
}

const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);

test('waypoint: bad input gets the right error, bounded memory, and spares other clients', async (t) => {
  const fx = await setup(t, ['--headers-timeout', HEADERS_TIMEOUT]);
  const { client, backend, wp } = fx;
  // The app as an endpoint outside the mesh (plain TCP from the waypoint) and
  // inside it (HBONE to its node's ztunnel): backpressure must hold on both.
  const endpointKinds = [
    ['plain TCP endpoint', fx.http],
    ['HBONE endpoint', fx.meshed],
  ] as const;
  const probe = startProbe(client, fx.http);
  t.after(() => probe.stop());
  await probe.healthy();
  const attacker = await client.session();
  t.after(() => attacker.destroy());

  await t.test('malformed HTTP/1.1 → 400, closed, nothing forwarded', CASE, async () => {
    const before = backend.others();
    const cases: [string, string][] = [
      ['bad request line', 'GET /a b HTTP/1.1\r\nhost: x\r\n\r\n'],
      ['bad HTTP version', 'GET / HTTP/9.x\r\nhost: x\r\n\r\n'],
      ['space in a header name', 'GET / HTTP/1.1\r\nhost: x\r\nbad header: 1\r\n\r\n'],
      ['invalid header name char', 'GET / HTTP/1.1\r\nhost: x\r\nx(y): 1\r\n\r\n'],
      ['header line without colon', 'GET / HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n'],
      [
        'Content-Length and Transfer-Encoding (smuggling)',
        'POST /cl-te HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n',
      ],
      [
        'conflicting Content-Length values',
        'POST /cl-cl HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n',
      ],
      [
        'Transfer-Encoding not ending in chunked',
        'POST /te HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, gzip\r\n\r\n0\r\n\r\n',
      ],
      [
        'obs-fold Transfer-Encoding',
        'POST /fold HTTP/1.1\r\nhost: x\r\ntransfer-encoding:\r\n chunked\r\n\r\n0\r\n\r\n',
      ],
      [
        'bad chunk size',
        'POST /chunk HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
      ],
      [
        'chunk longer than its size',
        'POST /chunk2 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n',
      ],
    ];
    for (const [what, bytes] of cases) {
      const r = await rawExchange(client, attacker, fx.http, bytes);
      assert.equal(status(r.text), 400, `${what}: ${JSON.stringify(r.text.slice(0, 120))}`);
      assert.match(r.text, /\r\nconnection: close\r\n/i, `${what}: no Connection: close`);
      assert.equal(r.how, 'end', `${what}: the tunnel was reset instead of closed after the 400`);
    }
    assert.equal(backend.hits.get('/smuggled'), undefined, 'a smuggled request reached the app');
    assert.equal(backend.others(), before, 'a malformed request reached the app');
    // A valid request with a body on the same kind of tunnel still works.
    const ok = await rawExchange(
      client,
      attacker,
      fx.http,
      'POST /fine HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello',
    );
    assert.equal(status(ok.text), 200, ok.text);
    assert.equal(backend.hits.get('/fine'), 1);
    assert.ok(wp.alive());
    await probe.healthy();
  });

  await t.test('oversized request heads → 431; oversized response head → 502', CASE, async () => {
    const before = backend.others();
    const big = await rawExchange(
      client,
      attacker,
      fx.http,
      `GET /big HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
    );
    assert.equal(status(big.text), 431, big.text.slice(0, 120));
    assert.equal(big.how, 'end');
    // Many small headers: over the count limit (100) though under 16 KiB.
    const many = Array.from({ length: 101 }, (_, i) => `x-h${i}: ${i}\r\n`).join('');
    const count = await rawExchange(
      client,
      attacker,
      fx.http,
      `GET /many HTTP/1.1\r\nhost: x\r\n${many}\r\n`,
    );
    assert.equal(status(count.text), 431, count.text.slice(0, 120));
    assert.equal(count.how, 'end');
    assert.equal(backend.others(), before, 'an oversized request reached the app');
    // Under both limits: forwarded.
    const fine = Array.from({ length: 90 }, (_, i) => `x-h${i}: ${'b'.repeat(100)}\r\n`).join('');
    const under = await rawExchange(
      client,
      attacker,
      fx.http,
      `GET /under HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${fine}\r\n`,
    );
    assert.equal(status(under.text), 200, under.text.slice(0, 120));
    // The app answers with a 64 KiB header: a protocol error upstream → 502.
    const resp = await rawExchange(
      client,
      attacker,
      fx.http,
      'GET /big-response-head HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    assert.equal(status(resp.text), 502, resp.text.slice(0, 120));
    assert.equal(
      backend.hits.get('/big-response-head'),
      1,
      'a 502 for a protocol error is not retried',
    );
    assert.ok(wp.alive());
    await probe.healthy();
  });

  await t.test(
    'HTTP/2 protocol errors in the tunnel → GOAWAY with the RFC 9113 code',
    CASE,
    async () => {
      const settings = h2Frame(H2.SETTINGS, 0, 0);
      const get = (stream: number, path: string, flags = H2.END_HEADERS | H2.END_STREAM) =>
        h2Frame(
          H2.HEADERS,
          flags,
          stream,
          hpack([
            [':method', 'GET'],
            [':scheme', 'http'],
            [':authority', H('app')],
            [':path', path],
          ]),
        );
      /** Sends `bytes` on a fresh tunnel; the waypoint must answer GOAWAY with one of `codes` and close. */
      const attack = async (what: string, bytes: Buffer, codes: number[]) => {
        const r = await rawExchange(client, attacker, fx.http, bytes);
        const frames = h2Frames(r.data);
        const code = goawayCode(frames);
        assert.ok(
          code !== undefined && codes.includes(code),
          `${what}: GOAWAY ${code}, frames ${JSON.stringify(frames.map((f) => [f.type, f.stream, f.payload.length]))}`,
        );
        t.diagnostic(`${what}: GOAWAY code ${code}, tunnel ${r.how}`);
        return r;
      };
      const before = backend.others();
      await attack(
        'garbage after the preface',
        Buffer.concat([H2.PREFACE, Buffer.from('hello, this is not a frame at all\r\n\r\n')]),
        [H2.PROTOCOL_ERROR],
      );
      await attack(
        'HEADERS on stream 0',
        Buffer.concat([H2.PREFACE, settings, get(0, '/stream-zero')]),
        [H2.PROTOCOL_ERROR],
      );
      await attack(
        'frame larger than SETTINGS_MAX_FRAME_SIZE',
        Buffer.concat([H2.PREFACE, settings, h2Frame(H2.DATA, 0, 1, Buffer.alloc(20_000))]),
        [H2.FRAME_SIZE_ERROR],
      );
      await attack(
        'PING with a 5-byte payload',
        Buffer.concat([H2.PREFACE, settings, h2Frame(H2.PING, 0, 0, Buffer.alloc(5))]),
        [H2.FRAME_SIZE_ERROR],
      );
      assert.equal(backend.others(), before, 'a request from a broken session reached the app');
      // CONTINUATION flood: HEADERS without END_HEADERS, then endless CONTINUATIONs.
      {
        const cont = h2Frame(H2.CONTINUATION, 0, 1, hpack([['x-flood', 'a'.repeat(1000)]]));
        const bytes = Buffer.concat([
          H2.PREFACE,
          settings,
          get(1, '/continuation', H2.END_STREAM),
          ...Array.from({ length: 2000 }, () => cont),
        ]);
        // nghttp2 refuses more than a few CONTINUATIONs (CVE-2024-27983 class).
        await attack('CONTINUATION flood', bytes, [H2.ENHANCE_YOUR_CALM, H2.PROTOCOL_ERROR]);
        assert.equal(backend.hits.get('/continuation'), undefined);
      }
      // Rapid reset (CVE-2023-44487): open and cancel streams as fast as possible.
      {
        const rssBefore = wp.rssKib();
        const frames: Buffer[] = [H2.PREFACE, settings];
        for (let i = 0; i < 5000; i++) {
          const id = 1 + 2 * i;
          frames.push(
            get(id, '/rapid-reset', H2.END_HEADERS),
            h2Frame(H2.RST_STREAM, 0, id, Buffer.from([0, 0, 0, H2.CANCEL])),
          );
        }
        // A flood is suspicious activity: ENHANCE_YOUR_CALM (RFC 9113 §10.5);
        // nghttp2's stream-reset rate limit says INTERNAL_ERROR.
        await attack('rapid reset', Buffer.concat(frames), [
          H2.ENHANCE_YOUR_CALM,
          H2.INTERNAL_ERROR,
        ]);
        const reached = backend.hits.get('/rapid-reset') ?? 0;
        t.diagnostic(`rapid reset: ${reached} of 5000 reset requests reached the app`);
        assert.ok(reached < 5000, `${reached} reset requests reached the app`);
        assert.ok(
          wp.rssKib() - rssBefore < 64 * 1024,
          `RSS grew ${(wp.rssKib() - rssBefore) >> 10} MiB`,
        );
      }
      // A well-behaved h2c client on another tunnel of the same HBONE session.
      {
        const tunnel = await client.tunnel(attacker, fx.http);
        const session = http2.connect(`http://${H('app')}`, { createConnection: () => tunnel });
        t.after(() => session.destroy());
        const s = session.request({ ':path': '/h2-ok' });
        const [headers] = (await new Promise((resolve, reject) => {
          s.once('response', (h) => resolve([h]));
          s.once('error', reject);
        })) as [http2.IncomingHttpHeaders];
        s.resume();
        assert.equal(headers[':status'], 200);
        session.close();
      }
      assert.ok(wp.alive());
      await probe.healthy();
    },
  );

  await t.test(
    'h2c header list over the limits → 431 on that stream, session lives',
    CASE,
    async () => {
      const tunnel = await client.tunnel(attacker, fx.http);
      const session = http2.connect(`http://${H('app')}`, {
        createConnection: () => tunnel,
        // Our own client would refuse to send it otherwise.
        maxSendHeaderBlockLength: 1 << 20,
      });
      t.after(() => session.destroy());
      // Once SETTINGS went both ways, as any real client does.
      await new Promise((r) => session.once('remoteSettings', r));
      await new Promise((r) => session.ping(r));
      const request = async (headers: http2.OutgoingHttpHeaders) => {
        const s = session.request(headers);
        s.on('error', () => {});
        s.resume();
        return new Promise<string>((resolve) => {
          s.once('response', (h) => resolve(`status ${h[':status']}`));
          s.once('close', () => resolve(`reset ${s.rstCode}`));
        });
      };
      const big = await request({ ':path': '/h2-big', 'x-big': 'a'.repeat(17 * 1024) });
      assert.equal(big, 'status 431', 'head over 16 KiB');
      const fields: http2.OutgoingHttpHeaders = { ':path': '/h2-many' };
      for (let i = 0; i < 101; i++) fields[`x-h${i}`] = String(i);
      assert.equal(await request(fields), 'status 431', '101 header fields');
      // Far over the limits the engine may reset the stream instead (node:http2 does).
      const refused = ['status 431', `reset ${H2.ENHANCE_YOUR_CALM}`];
      const huge = await request({ ':path': '/h2-huge', 'x-big': 'a'.repeat(40 * 1024) });
      assert.ok(refused.includes(huge), `40 KiB head: ${huge}`);
      const lots: http2.OutgoingHttpHeaders = { ':path': '/h2-lots' };
      for (let i = 0; i < 300; i++) lots[`x-h${i}`] = String(i);
      const lotsOutcome = await request(lots);
      assert.ok(refused.includes(lotsOutcome), `300 header fields: ${lotsOutcome}`);
      t.diagnostic(`h2c far over the limits: ${huge}, ${lotsOutcome}`);
      for (const p of ['/h2-big', '/h2-many', '/h2-huge', '/h2-lots'])
        assert.equal(backend.hits.get(p), undefined, `${p} reached the app`);
      assert.equal(await request({ ':path': '/h2-after' }), 'status 200', 'the session died');
      session.close();
      await probe.healthy();
    },
  );

  await t.test(
    'garbage in the tunnel: 400 on an http port, passed through on tcp ports',
    CASE,
    async () => {
      const garbage = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x01, 0x02, 0x0d, 0x0a]);
      const before = backend.others();
      const r = await rawExchange(client, attacker, fx.http, garbage);
      assert.equal(status(r.text), 400, JSON.stringify(r.text.slice(0, 80)));
      assert.equal(r.how, 'end');
      const lower = await rawExchange(client, attacker, fx.http, 'hello world\r\n\r\n');
      assert.equal(status(lower.text), 400, JSON.stringify(lower.text.slice(0, 80)));
      assert.equal(backend.others(), before);
      for (const authority of [fx.tcp, fx.sniffed]) {
        const echo = await rawExchange(client, attacker, authority, garbage, { end: true });
        assert.deepEqual(echo.data, garbage, `${authority}: not passed through`);
      }
      await probe.healthy();
    },
  );

  await t.test(
    'slowloris: 200 heads trickling a byte a second → 408, bounded RSS',
    CASE,
    async () => {
      const baseline = wp.rssKib();
      const sessions = await Promise.all(Array.from({ length: 4 }, () => client.session()));
      t.after(() => {
        for (const s of sessions) s.destroy();
      });
      const N = 200;
      const tunnels = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          client.tunnel(sessions[i % sessions.length] as HboneSession, fx.http),
        ),
      );
      const results = tunnels.map((tun) => collect(tun, 60_000));
      // A keep-alive connection that idles between two requests for longer
      // than the headers timeout is not a slow head: it must not get a 408.
      const keeper = await client.tunnel(attacker, fx.http);
      const keeperReader = new H1Reader(keeper);
      keeper.write(`GET /keep HTTP/1.1\r\nhost: ${H('app')}\r\n\r\n`);
      assert.equal((await keeperReader.next()).status, 200);
      const head = Buffer.from(
        `GET /slow HTTP/1.1\r\nhost: ${H('app')}\r\nx-slow: ${'a'.repeat(100)}`,
      );
      let sent = 0;
      let peak = 0;
      const drip = setInterval(() => {
        peak = Math.max(peak, wp.rssKib());
        if (sent >= head.length) return;
        const b = head.subarray(sent, sent + 1);
        sent++;
        for (const tun of tunnels) if (!tun.destroyed && tun.writable) tun.write(b);
      }, 1000);
      try {
        const done = await Promise.all(results);
        for (const r of done) {
          assert.equal(status(r.data.toString('latin1')), 408, r.data.toString('latin1'));
          assert.equal(r.how, 'end');
        }
      } finally {
        clearInterval(drip);
      }
      assert.ok(sent < head.length, 'the slow heads were never cut off');
      keeper.write(`GET /keep HTTP/1.1\r\nhost: ${H('app')}\r\n\r\n`);
      assert.equal(
        (await keeperReader.next()).status,
        200,
        'an idle keep-alive connection was cut',
      );
      assert.equal(backend.hits.get('/keep'), 2);
      keeper.end();
      assert.equal(backend.hits.get('/slow'), undefined);
      t.diagnostic(`slowloris: RSS ${baseline >> 10} MiB before, ${peak >> 10} MiB peak`);
      assert.ok(
        peak - baseline < 96 * 1024,
        `RSS grew ${(peak - baseline) >> 10} MiB with ${N} slow clients`,
      );
      assert.ok(wp.alive());
      await probe.healthy();
    },
  );

  for (const [kind, authority] of endpointKinds) {
    await t.test(
      `a slow app reading a large upload (${kind}): bounded memory, every byte arrives`,
      CASE,
      async () => {
        const n0 = backend.uploads.length;
        const SIZE = 128 * MIB;
        const release = backend.holdUploads();
        const baseline = wp.rssKib();
        const tunnel = await client.tunnel(attacker, authority);
        const reader = new H1Reader(tunnel);
        tunnel.write(`POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${SIZE}\r\n\r\n`);
        const hash = createHash('sha256');
        let written = 0;
        let stalled = false;
        const chunk = Buffer.alloc(256 * 1024);
        const writer = (async () => {
          while (written < SIZE) {
            chunk.fill(written & 0xff);
            hash.update(chunk);
            written += chunk.length;
            if (!tunnel.write(chunk)) {
              stalled = true;
              await new Promise((r) => tunnel.once('drain', r));
            }
          }
        })();
        // The upload pushes against the held backend until the client is pushed back.
        let peak = await sampleRss(wp, () => stalled || written >= SIZE);
        assert.ok(
          stalled && written < SIZE,
          `the client was never pushed back (${written >> 20} MiB written)`,
        );
        peak = Math.max(peak, await sampleRss(wp, sleepFor(2000)));
        await probe.healthy();
        t.diagnostic(`RSS ${baseline >> 10} MiB before, ${peak >> 10} MiB peak`);
        assert.ok(peak - baseline < 64 * 1024, `RSS grew ${(peak - baseline) >> 10} MiB`);
        release();
        await writer;
        const r = await reader.next();
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), String(SIZE));
        const u = backend.uploads[n0];
        assert.equal(u?.sha, hash.digest('hex'), 'the upload arrived corrupted');
        tunnel.end();
        // A client that goes away mid-upload: the app's request is aborted, not left waiting.
        const gone = await client.tunnel(attacker, authority);
        gone.write(`POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${SIZE}\r\n\r\n`);
        gone.write(Buffer.alloc(MIB));
        await until(
          () => backend.uploads.length === n0 + 2 && (backend.uploads[n0 + 1]?.bytes ?? 0) > 0,
          'the second upload at the app',
          30_000,
        );
        gone.close(http2.constants.NGHTTP2_CANCEL);
        await until(
          () => backend.uploads[n0 + 1]?.aborted === true,
          'the app to see the upload aborted',
          30_000,
        );
        await probe.healthy();
      },
    );

    await t.test(
      `a client that stops reading a large response (${kind}): bounded memory, no loss`,
      CASE,
      async () => {
        const n0 = backend.downloads.length;
        const MIBS = 128;
        const baseline = wp.rssKib();
        const tunnel = await client.tunnel(attacker, authority);
        tunnel.pause();
        tunnel.write(`GET /download?mib=${MIBS} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
        await until(() => backend.downloads.length === n0 + 1, 'the download at the app', 30_000);
        const peak = await sampleRss(wp, sleepFor(3000));
        await probe.healthy();
        t.diagnostic(`RSS ${baseline >> 10} MiB before, ${peak >> 10} MiB peak`);
        assert.ok(peak - baseline < 64 * 1024, `RSS grew ${(peak - baseline) >> 10} MiB`);
        let received = 0;
        let headEnd = -1;
        let head = '';
        tunnel.on('data', (c: Buffer) => {
          if (headEnd < 0) {
            head += c.toString('latin1');
            headEnd = head.indexOf('\r\n\r\n');
            if (headEnd >= 0) received = Buffer.byteLength(head, 'latin1') - headEnd - 4;
          } else received += c.length;
        });
        tunnel.resume();
        await new Promise((r) => tunnel.once('end', r));
        assert.equal(status(head), 200);
        assert.equal(received, MIBS * MIB);
        assert.equal(backend.downloads[n0]?.released, false);
        // A client that goes away mid-response: the app's response is released, not left paused.
        const gone = await client.tunnel(attacker, authority);
        gone.pause();
        gone.write(`GET /download?mib=${MIBS} HTTP/1.1\r\nhost: x\r\n\r\n`);
        await until(
          () => backend.downloads.length === n0 + 2,
          'the second download at the app',
          30_000,
        );
        gone.close(http2.constants.NGHTTP2_CANCEL);
        await until(
          () => backend.downloads[n0 + 1]?.released === true,
          'the app to see the download released',
          30_000,
        );
        await probe.healthy();
      },
    );
  }

  await t.test(
    'request bodies are buffered for retries and mirrors only up to 64 KiB',
    CASE,
    async () => {
      const post = async (path: string, size: number, seq = 0) => {
        const r = await rawExchange(
          client,
          attacker,
          fx.http,
          Buffer.concat([
            Buffer.from(
              `POST ${path} HTTP/1.1\r\nhost: app\r\nx-seq: ${seq}\r\nconnection: close\r\ncontent-length: ${size}\r\n\r\n`,
            ),
            Buffer.alloc(size, 0x62),
          ]),
        );
        return status(r.text);
      };
      const before = backend.hits.get('/retry') ?? 0;
      // 64 KiB: buffered, the 503 is retried and the client sees 200.
      assert.equal(await post('/retry', 64 * 1024), 200);
      assert.equal((backend.hits.get('/retry') ?? 0) - before, 2);
      // Over 64 KiB: streamed once, not retried; the client sees the app's 503.
      assert.equal(await post('/retry', 64 * 1024 + 1), 503);
      assert.equal((backend.hits.get('/retry') ?? 0) - before, 3);
      // Mirrors: a body over 64 KiB is not mirrored, one within it is.
      assert.equal(await post('/mirror', 64 * 1024 + 1, 1), 200);
      assert.equal(await post('/mirror', 64 * 1024, 2), 200);
      await until(() => backend.mirrored.includes('app-shadow|2'), 'the mirrored copy', 30_000);
      assert.deepEqual(
        backend.mirrored.filter((m) => m.endsWith('|1')),
        ['app|1'],
        'a body over the buffer limit was mirrored',
      );
      await probe.healthy();
    },
  );

  assert.ok(wp.alive(), 'the waypoint process died');
});

test('waypoint: idle downstream connections are closed after the idle timeout', async (t) => {
  const fx = await setup(t, ['--idle-timeout', '2s']);
  const { client } = fx;
  const probe = startProbe(client, fx.http);
  t.after(() => probe.stop());
  const session = await client.session();
  t.after(() => session.destroy());
  // A keep-alive connection that served one request and then went quiet.
  const used = await client.tunnel(session, fx.http);
  const usedDone = collect(used, 30_000);
  const reader = new H1Reader(used);
  used.write(`GET /once HTTP/1.1\r\nhost: ${H('app')}\r\n\r\n`);
  assert.equal((await reader.next()).status, 200);
  // A tunnel on which nothing was ever sent.
  const silent = await client.tunnel(session, fx.http);
  const silentDone = collect(silent, 30_000);
  // An h2c session that went quiet after its preface: GOAWAY NO_ERROR, then closed.
  const h2 = await client.tunnel(session, fx.http);
  const h2Done = collect(h2, 30_000);
  h2.write(Buffer.concat([H2.PREFACE, h2Frame(H2.SETTINGS, 0, 0)]));
  const [a, b, c] = await Promise.all([usedDone, silentDone, h2Done]);
  assert.equal(a.how, 'end');
  assert.equal(b.how, 'end');
  assert.equal(b.data.length, 0, 'a connection that sent nothing got bytes back');
  assert.equal(goawayCode(h2Frames(c.data)), H2.NO_ERROR);
  assert.equal(c.how, 'end');
  // Meanwhile the busy probe connection (a request every 20 ms) stayed up.
  await probe.healthy();
  assert.ok(probe.ok > 10);
  assert.ok(fx.wp.alive());
});
