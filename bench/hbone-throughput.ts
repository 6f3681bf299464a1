/**
 * Bulk throughput of one TCP stream through two HBONE hops on loopback,
 * against direct TCP and against a stunnel (TLS 1.3) pair, all in one run so
 * the ratios are comparable. Each proxy runs in its own worker thread (its own
 * event loop), like two node proxies; the source and the sink share the main
 * thread in every arm.
 *
 *   direct:   source → sink
 *   hbone:    source → client proxy (relay → pooled HBONE stream) → HBONE server → sink
 *   hbone-node-default-windows: the same with Node's 64 KiB windows (what tuning buys)
 *   stunnel:  source → stunnel client → stunnel server (TLS 1.3) → sink
 *
 *   node --import tsx bench/hbone-throughput.ts [--seconds 3]
 *
 * Prints one JSON object. Not a test: numbers depend on the machine and its load.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { SpiffeId } from '../src/identity/index.js';
import {
  formatAuthority,
  type HboneCredentials,
  HbonePool,
  HboneServer,
  type HboneSettingsInput,
  relay,
} from '../src/proxy/hbone/index.js';
import { makeCa, workloadCredentials } from '../test/helpers/certs.js';

const SERVER_IP = '127.0.0.2';
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

interface Creds {
  certChainPem: string;
  keyPem: string;
  rootsPem: string[];
  identity: string;
}
type Role =
  | { role: 'server'; creds: Creds; settings: HboneSettingsInput }
  | {
      role: 'client';
      creds: Creds;
      serverIdentity: string;
      serverPort: number;
      sinkPort: number;
      settings: HboneSettingsInput;
    };

function toCreds(c: Creds): HboneCredentials {
  return { ...c, identity: SpiffeId.parse(c.identity) };
}

async function listenOn(host: string, onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
  server.listen(0, host);
  await once(server, 'listening');
  return server;
}

/** Worker side: one proxy. Posts its port, then serves until terminated. */
async function runProxy(r: Role): Promise<void> {
  if (r.role === 'server') {
    const creds = toCreds(r.creds);
    const hbone = new HboneServer({
      certificateFor: (ip) => (ip === SERVER_IP ? creds : undefined),
      settings: r.settings,
      onConnect: async (ctx) => {
        const upstream = net.connect({
          host: ctx.destination.ip,
          port: ctx.target.port,
          noDelay: true,
        });
        await once(upstream, 'connect');
        return { upstream };
      },
    });
    const l = await listenOn(SERVER_IP, (s) => hbone.handle(s));
    parentPort?.postMessage((l.address() as AddressInfo).port);
    return;
  }
  const pool = new HbonePool({ settings: r.settings });
  const target = {
    credentials: toCreds(r.creds),
    expectedIdentities: [SpiffeId.parse(r.serverIdentity)],
    address: { host: SERVER_IP, port: r.serverPort },
  };
  const l = await listenOn('127.0.0.1', (app) => {
    pool
      .connect(target, { authority: formatAuthority(SERVER_IP, r.sinkPort) })
      .then((tunnel) => relay(app, tunnel))
      .catch(() => app.destroy());
  });
  parentPort?.postMessage((l.address() as AddressInfo).port);
}

async function startWorker(data: Role): Promise<{ port: number; stop: () => Promise<number> }> {
  // Workers do not inherit tsx's loader hooks; register them before importing this file.
  const boot = `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const w = new Worker(boot, { eval: true, workerData: data });
  const [port] = (await once(w, 'message')) as [number];
  return { port, stop: () => w.terminate() };
}

/** Pushes bytes into `port` for warmup + seconds; the sink counts only the measured window. */
async function measure(sink: Sink, host: string, port: number, seconds: number): Promise<number> {
  const src = net.connect({ host, port, noDelay: true });
  await once(src, 'connect');
  let running = true;
  const pump = (): void => {
    while (running && src.write(CHUNK)) {}
  };
  src.on('drain', pump);
  pump();
  await sleep(500);
  const start = sink.bytes;
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const bytes = sink.bytes - start;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  src.destroy();
  return (bytes * 8) / elapsed / 1e9;
}

interface Sink {
  port: number;
  bytes: number;
  server: net.Server;
}

async function startSink(): Promise<Sink> {
  const sink: Sink = { port: 0, bytes: 0, server: undefined as unknown as net.Server };
  sink.server = await listenOn(SERVER_IP, (s) => {
    s.on('data', (d: Buffer) => {
      sink.bytes += d.length;
    });
    s.on('error', () => {});
  });
  sink.port = (sink.server.address() as AddressInfo).port;
  return sink;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function credsOf(c: HboneCredentials): Creds {
  return { ...c, rootsPem: [...c.rootsPem], identity: c.identity.uri };
}

async function hboneArm(
  sink: Sink,
  client: HboneCredentials,
  server: HboneCredentials,
  settings: HboneSettingsInput,
  seconds: number,
): Promise<number> {
  const srv = await startWorker({ role: 'server', creds: credsOf(server), settings });
  const cli = await startWorker({
    role: 'client',
    creds: credsOf(client),
    serverIdentity: server.identity.uri,
    serverPort: srv.port,
    sinkPort: sink.port,
    settings,
  });
  try {
    return await measure(sink, '127.0.0.1', cli.port, seconds);
  } finally {
    await cli.stop();
    await srv.stop();
  }
}

async function freePort(host: string): Promise<number> {
  const s = await listenOn(host, () => {});
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function stunnelArm(
  sink: Sink,
  client: HboneCredentials,
  server: HboneCredentials,
  seconds: number,
): Promise<number | undefined> {
  if (spawnSync('stunnel4', ['-version']).error) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-stunnel-'));
  const procs: ChildProcess[] = [];
  try {
    const files = (name: string, c: HboneCredentials): string[] => {
      writeFileSync(join(dir, `${name}.crt`), c.certChainPem);
      writeFileSync(join(dir, `${name}.key`), c.keyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'ca.crt'), c.rootsPem.join('\n'));
      return [
        `cert = ${join(dir, `${name}.crt`)}`,
        `key = ${join(dir, `${name}.key`)}`,
        `CAfile = ${join(dir, 'ca.crt')}`,
        'verifyChain = yes',
        'sslVersionMin = TLSv1.3',
        'socket = l:TCP_NODELAY=1',
        'socket = r:TCP_NODELAY=1',
      ];
    };
    const serverPort = await freePort(SERVER_IP);
    const clientPort = await freePort('127.0.0.1');
    const conf = (name: string, lines: string[]): string => {
      const p = join(dir, `${name}.conf`);
      writeFileSync(p, ['foreground = yes', 'pid =', 'debug = 3', ...lines].join('\n'));
      return p;
    };
    const serverConf = conf('server', [
      ...files('server', server),
      '[hbone]',
      `accept = ${SERVER_IP}:${serverPort}`,
      `connect = ${SERVER_IP}:${sink.port}`,
    ]);
    const clientConf = conf('client', [
      ...files('client', client),
      'client = yes',
      '[hbone]',
      `accept = 127.0.0.1:${clientPort}`,
      `connect = ${SERVER_IP}:${serverPort}`,
    ]);
    for (const c of [serverConf, clientConf]) {
      procs.push(spawn('stunnel4', [c], { stdio: 'ignore' }));
    }
    await sleep(500);
    return await measure(sink, '127.0.0.1', clientPort, seconds);
  } finally {
    for (const p of procs) if (p.pid !== undefined) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null ? once(p, 'exit') : undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i === -1 ? 3 : Number(process.argv[i + 1]) || 3;
  const ca = makeCa();
  const client = workloadCredentials(ca, 'default', 'client');
  const server = workloadCredentials(ca, 'default', 'server');
  const sink = await startSink();
  try {
    const directGbps = await measure(sink, SERVER_IP, sink.port, seconds);
    const hbone = await hboneArm(sink, client, server, {}, seconds);
    const hboneDefault = await hboneArm(
      sink,
      client,
      server,
      { streamWindowBytes: 65_535, connectionWindowBytes: 65_535, maxFrameBytes: 16_384 },
      seconds,
    );
    const stunnel = await stunnelArm(sink, client, server, seconds);
    const r = (x: number | undefined, base: number | undefined): number | null =>
      x === undefined || !base ? null : Math.round((x / base) * 1000) / 1000;
    const g = (x: number | undefined): number | null =>
      x === undefined ? null : Math.round(x * 100) / 100;
    console.log(
      JSON.stringify(
        {
          bench: 'hbone-throughput',
          what: 'one TCP stream, loopback, Gbit/s over the measured window',
          secondsPerArm: seconds,
          gbps: {
            direct: g(directGbps),
            hbone: g(hbone),
            hboneNodeDefaultWindows: g(hboneDefault),
            stunnel: g(stunnel),
          },
          ratios: {
            hboneVsDirect: r(hbone, directGbps),
            hboneVsStunnel: r(hbone, stunnel),
            stunnelVsDirect: r(stunnel, directGbps),
            tunedVsDefaultWindows: r(hbone, hboneDefault),
          },
        },
        null,
        2,
      ),
    );
  } finally {
    sink.server.close();
  }
}

if (isMainThread) {
  await main();
} else {
  await runProxy(workerData as Role);
}
