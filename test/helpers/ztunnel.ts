// A loopback "mesh" for ztunnel tests: distinct 127.a.b.x addresses play
// pods, a local file CA issues certificates, one local config YAML describes
// everything, and each ztunnel runs in-process in dedicated mode.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { buildZtunnel, type Ztunnel } from '../../src/app/index.js';
import { parseZtunnelConfig, type ZtunnelFlags } from '../../src/config/ztunnel.js';
import { CertificateAuthority } from '../../src/controlplane/ca/index.js';

export interface LoopbackMesh {
  dir: string;
  caDir: string;
  configPath: string;
  /** `127.a.b.<host>` */
  ip(host: number): string;
  writeConfig(yaml: string): void;
  startZtunnel(workload: string, ip: string, extra?: ZtunnelFlags): Promise<Ztunnel>;
}

/** A unique /16-ish loopback prefix per test process, so parallel files never collide. */
function prefix(): string {
  const a = 20 + (process.pid % 200);
  const b = Math.floor(Math.random() * 250) + 1;
  return `127.${a}.${b}`;
}

export function loopbackMesh(t: TestContext): LoopbackMesh {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-zt-'));
  const caDir = join(dir, 'ca');
  CertificateAuthority.init(caDir, { trustDomain: 'cluster.local' });
  const configPath = join(dir, 'mesh.yaml');
  const p = prefix();
  const started: Ztunnel[] = [];
  t.after(async () => {
    await Promise.allSettled(started.map((z) => z.destroy()));
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    caDir,
    configPath,
    ip: (host) => `${p}.${host}`,
    writeConfig: (yaml) => writeFileSync(configPath, yaml),
    async startZtunnel(workload, ip, extra = {}) {
      const config = parseZtunnelConfig(
        { AMBIT_WORKLOAD_WAIT_TIMEOUT: '3s' },
        {
          mode: 'dedicated',
          workload,
          localConfig: configPath,
          caDir,
          socks5: true,
          bindAddress: ip,
          outboundPort: '0',
          inboundPlaintextPort: '0',
          socks5Port: '0',
          adminPort: '0',
          metricsPort: '0',
          readinessPort: '0',
          ...extra,
        },
      );
      const zt = await buildZtunnel(config);
      started.push(zt);
      await zt.run();
      return zt;
    },
  };
}

/** Resolves once `zt` reports ready (certificates fetched). */
export async function untilReady(zt: Ztunnel): Promise<void> {
  while (!zt.readiness.ready) await new Promise((r) => setTimeout(r, 20));
}

/** A TCP echo server on `ip`; returns its port. */
export async function echoServer(t: TestContext, ip: string): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, ip, r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/** An HTTP server that answers with who connected. */
export async function whoamiServer(t: TestContext, ip: string): Promise<number> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, remote: req.socket.remoteAddress }));
  });
  await new Promise<void>((r) => server.listen(0, ip, r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as net.AddressInfo).port;
}

export interface SocksResult {
  /** RFC 1928 reply code (0 = success). */
  reply: number;
  socket: net.Socket;
}

/** SOCKS5 CONNECT through `proxy`, from `localAddress`. `host` may be an IP or a name. */
export function socksConnect(
  proxy: { address: string; port: number },
  host: string,
  port: number,
  localAddress?: string,
): Promise<SocksResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: proxy.address, port: proxy.port, localAddress });
    let buf = Buffer.alloc(0);
    let stage = 0;
    socket.once('error', reject);
    socket.on('connect', () => socket.write(Buffer.from([5, 1, 0])));
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2) {
        buf = buf.subarray(2);
        stage = 1;
        const p = Buffer.alloc(2);
        p.writeUInt16BE(port);
        let addr: Buffer;
        if (net.isIPv4(host)) addr = Buffer.from([1, ...host.split('.').map(Number)]);
        else addr = Buffer.concat([Buffer.from([3, host.length]), Buffer.from(host)]);
        socket.write(Buffer.concat([Buffer.from([5, 1, 0]), addr, p]));
      }
      if (stage === 1 && buf.length >= 10) {
        socket.off('data', onData);
        socket.off('error', reject);
        const reply = buf[1] as number;
        const rest = buf.subarray(10);
        if (rest.length > 0) socket.unshift(rest);
        resolve({ reply, socket });
      }
    };
    socket.on('data', onData);
    socket.once('close', () => {
      if (stage < 2) reject(new Error('SOCKS5 proxy closed the connection'));
    });
  });
}

/** Writes `data`, half-closes and collects everything until the peer closes. */
export function roundTrip(socket: net.Socket, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.end(data);
  });
}

export async function getText(address: { address: string; port: number }, path: string) {
  const res = await fetch(`http://${address.address}:${address.port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** One counter value from Prometheus text, matching every given label. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}
