// The benchmark's arms. Each one starts its proxies and says how the load
// generator reaches the 1 KiB HTTP app (port 8080 in the server pod) and the
// iperf3 server (5201) through them, and which PIDs are "the proxy" for CPU
// and RSS. Peers run sidecar-style, in the plain client and server pods:
//   direct        plain client pod → plain server pod
//   stunnel       stunnel client (127.0.0.1) → TLS 1.3 mTLS → stunnel server → app
//   haproxy-tcp   the same with haproxy in TCP mode
//   haproxy-http  haproxy in HTTP mode on both sides, mTLS between them (the L7 peer)
//   ambit-l4      the app connects to the server IP as usual; in-pod capture sends
//                 it through ztunnel → HBONE → ztunnel (MeshMode: shared, i.e. one
//                 ztunnel per node with in-pod redirection, or dedicated)
//   ambit-l7      the app dials a Service VIP bound to a waypoint: ztunnel → HBONE →
//                 waypoint (HTTP routing) → HBONE → ztunnel → app
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { INPOD_DEFAULTS } from '../../src/inpod/index.js';
import { ambitHelp, type MeshEnv, type MeshResult, readyIn } from './mesh.js';
import { dialer, type Pod, type Topology, waitPort } from './topology.js';

const MARK = INPOD_DEFAULTS.proxyMark;

export interface Certs {
  cert: string;
  key: string;
  root: string;
  /** cert chain + key in one file (haproxy's `crt`). */
  combined: string;
}

export interface ArmContext {
  topo: Topology;
  dir: string;
  certs: { client: Certs; server: Certs };
  /** Unmeshed pods for direct and the peers. */
  plain: { client: Pod; server: Pod };
  /** Pods enrolled in the mesh for ambit-l4 / ambit-l7. */
  mesh: { client: Pod; server: Pod };
  /** Pods for ambit-l7: client and server enrolled in the mesh, the waypoint not (as in Istio). */
  l7: { client: Pod; server: Pod; waypoint: Pod };
  meshEnv: MeshEnv;
  /**
   * Puts the mesh and l7 pods in the mesh, once (memoized): ambit-l4 and ambit-l7
   * share the ztunnels, since shared mode runs one per node.
   */
  startMesh: () => Promise<MeshResult>;
}

export interface RunningArm {
  /** A new connection that reaches the HTTP app through the arm. */
  http: () => Promise<Socket>;
  /** Where `iperf3 -c` runs and connects, or why there is no throughput number. */
  iperf: { netns: string; host: string; port: number } | { unavailable: string };
  /** The arm's proxy processes (empty for direct). */
  pids: number[];
  /** What each of `pids` is (same order), when the arm mixes kinds of proxy. */
  roles?: string[];
  /** Stops what the arm runs in this process (the shared mode's node agents). */
  close?: () => Promise<void>;
}

export type ArmStart = (ctx: ArmContext) => Promise<RunningArm | { unavailable: string }>;

export const ARM_NAMES = [
  'direct',
  'stunnel',
  'haproxy-tcp',
  'haproxy-http',
  'ambit-l4',
  'ambit-l7',
] as const;
export type ArmName = (typeof ARM_NAMES)[number];

/** Issues SPIFFE certificates for the peers from the mesh CA (the same CA ztunnel uses). */
export function issueCerts(
  ambit: string[],
  dir: string,
  caDir: string,
  trustDomain: string,
): ArmContext['certs'] {
  const out = {} as ArmContext['certs'];
  const [cmd, ...pre] = ambit as [string, ...string[]];
  for (const who of ['client', 'server'] as const) {
    const d = join(dir, `peer-${who}`);
    execFileSync(cmd, [
      ...pre,
      'ca',
      'issue',
      '--dir',
      caDir,
      '--identity',
      `spiffe://${trustDomain}/ns/bench/sa/peer-${who}`,
      '--out',
      d,
    ]);
    const combined = join(d, 'combined.pem');
    writeFileSync(
      combined,
      readFileSync(join(d, 'cert-chain.pem'), 'utf8') + readFileSync(join(d, 'key.pem'), 'utf8'),
      { mode: 0o600 },
    );
    chmodSync(combined, 0o600);
    out[who] = {
      cert: join(d, 'cert-chain.pem'),
      key: join(d, 'key.pem'),
      root: join(d, 'root-cert.pem'),
      combined,
    };
  }
  return out;
}

const direct: ArmStart = async (ctx) => ({
  http: dialer(ctx.plain.client.netns, ctx.plain.server.ip, 8080, MARK),
  iperf: { netns: ctx.plain.client.netns, host: ctx.plain.server.ip, port: 5201 },
  pids: [],
});

const stunnel: ArmStart = async (ctx) => {
  const { client, server } = ctx.plain;
  const pids: number[] = [];
  for (const who of ['client', 'server'] as const) {
    const c = ctx.certs[who];
    const tls = `cert = ${c.cert}\nkey = ${c.key}\nCAfile = ${c.root}\nverifyChain = yes\nsslVersion = TLSv1.3\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n`;
    const conf =
      who === 'client'
        ? `foreground = yes\npid =\n${tls}[http]\nclient = yes\naccept = 127.0.0.1:6080\nconnect = ${server.ip}:6443\n[iperf]\nclient = yes\naccept = 127.0.0.1:6201\nconnect = ${server.ip}:6444\n`
        : `foreground = yes\npid =\n${tls}requireCert = yes\n[http]\naccept = ${server.ip}:6443\nconnect = 127.0.0.1:8080\n[iperf]\naccept = ${server.ip}:6444\nconnect = 127.0.0.1:5201\n`;
    const file = join(ctx.dir, `stunnel-${who}.conf`);
    writeFileSync(file, conf);
    const p = ctx.topo.spawn(who === 'client' ? client.netns : server.netns, 'stunnel4', [file]);
    pids.push(p.pid as number);
  }
  await waitPort(server.netns, server.ip, 6443);
  await waitPort(client.netns, '127.0.0.1', 6080);
  return {
    http: dialer(client.netns, '127.0.0.1', 6080),
    iperf: { netns: client.netns, host: '127.0.0.1', port: 6201 },
    pids,
  };
};

// haproxy refuses to start when 2 x maxconn exceeds the fd limit it cannot raise.
const FD_HARD = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim()) || 1024;
const HAPROXY_GLOBAL = `global
  maxconn ${Math.floor((FD_HARD - 200) / 2)}
  nbthread 1
defaults
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout http-keep-alive 1h
  timeout http-request 1h
`;

function haproxy(ctx: ArmContext, name: string, client: string, server: string): number[] {
  const pids: number[] = [];
  for (const [who, conf] of [
    ['client', client],
    ['server', server],
  ] as const) {
    const file = join(ctx.dir, `${name}-${who}.cfg`);
    writeFileSync(file, HAPROXY_GLOBAL + conf);
    const netns = who === 'client' ? ctx.plain.client.netns : ctx.plain.server.netns;
    pids.push(ctx.topo.spawn(netns, 'haproxy', ['-db', '-f', file]).pid as number);
  }
  return pids;
}

const tlsOpts = (c: Certs) =>
  `ssl crt ${c.combined} ca-file ${c.root} verify required ssl-min-ver TLSv1.3`;

const haproxyTcp: ArmStart = async (ctx) => {
  const { client, server } = ctx.plain;
  const fwd = (port: number, to: string, opts = '') =>
    `listen p${port}\n  mode tcp\n  bind ${port === 7080 || port === 7201 ? '127.0.0.1' : server.ip}:${port}${opts ? ` ${opts}` : ''}\n  option tcp-smart-accept\n  server s ${to}\n`;
  const pids = haproxy(
    ctx,
    'haproxy-tcp',
    fwd(7080, `${server.ip}:7443 ${tlsOpts(ctx.certs.client)}`) +
      fwd(7201, `${server.ip}:7444 ${tlsOpts(ctx.certs.client)}`),
    fwd(7443, '127.0.0.1:8080', tlsOpts(ctx.certs.server)) +
      fwd(7444, '127.0.0.1:5201', tlsOpts(ctx.certs.server)),
  );
  await waitPort(server.netns, server.ip, 7443);
  await waitPort(client.netns, '127.0.0.1', 7080);
  return {
    http: dialer(client.netns, '127.0.0.1', 7080),
    iperf: { netns: client.netns, host: '127.0.0.1', port: 7201 },
    pids,
  };
};

const haproxyHttp: ArmStart = async (ctx) => {
  const { client, server } = ctx.plain;
  const pids = haproxy(
    ctx,
    'haproxy-http',
    `listen l7\n  mode http\n  bind 127.0.0.1:7180\n  http-reuse always\n  server s ${server.ip}:7543 ${tlsOpts(ctx.certs.client)}\n`,
    `listen l7\n  mode http\n  bind ${server.ip}:7543 ${tlsOpts(ctx.certs.server)}\n  http-reuse always\n  server s 127.0.0.1:8080\n`,
  );
  await waitPort(server.netns, server.ip, 7543);
  await waitPort(client.netns, '127.0.0.1', 7180);
  return {
    http: dialer(client.netns, '127.0.0.1', 7180),
    iperf: { unavailable: 'HTTP-mode proxy: iperf3 is not HTTP' },
    pids,
  };
};

const ambitL4: ArmStart = async (ctx) => {
  const { client, server } = ctx.mesh;
  const mesh = await ctx.startMesh();
  if ('unavailable' in mesh) return mesh;
  // No mark: the app's connection is captured in the pod like any other.
  return {
    http: dialer(client.netns, server.ip, 8080),
    iperf: { netns: client.netns, host: server.ip, port: 5201 },
    pids: mesh.pids,
    close: mesh.close,
  };
};

/** True when this build has the waypoint (`ambit waypoint run`). */
function waypointAvailable(ambit: string[]): boolean {
  return /^\s+waypoint\b/m.test(ambitHelp(ambit, []));
}

/** The L7 arm's Service: a VIP no pod owns, port 80 → the app, 5201 → iperf3 (opaque TCP). */
export const L7_VIP = '10.79.100.10';
const L7_HOST = 'app.bench.svc.cluster.local';

/**
 * What the ztunnels must know for the L7 arm (appended to the mesh config): the
 * Service bound to the waypoint, the server workload behind it, and the
 * waypoint's workload (its address and identity: the server's ztunnel accepts
 * the Service's target ports only from it, src/proxy/waypoint-guard.ts).
 */
export function l7MeshYaml(l7: ArmContext['l7']): string {
  return `- name: ${l7.server.name}
  namespace: bench
  serviceAccount: ${l7.server.name}
  node: ${l7.server.node.name}
  workloadIps: ["${l7.server.ip}"]
  protocol: HBONE
  services:
    "bench/${L7_HOST}": {80: 8080, 5201: 5201}
- {name: waypoint, namespace: bench, serviceAccount: waypoint, workloadIps: ["${l7.waypoint.ip}"], protocol: HBONE}
services:
- {name: app, namespace: bench, hostname: ${L7_HOST}, vips: ["/${L7_VIP}"], ports: {80: 8080, 5201: 5201}, waypoint: {destination: "/${l7.waypoint.ip}"}}
`;
}

/** The waypoint's own config: the Service (HTTP on 80, TCP on 5201) and its endpoint. */
function waypointConfig(l7: ArmContext['l7']): string {
  return JSON.stringify({
    services: [
      {
        name: 'app',
        namespace: 'bench',
        hostname: L7_HOST,
        waypoint: 'bench/waypoint',
        vips: [L7_VIP],
        ports: [
          { port: 80, name: 'http', appProtocol: 'http' },
          { port: 5201, name: 'iperf', appProtocol: 'tcp' },
        ],
      },
    ],
    endpoints: [
      {
        name: 'app',
        namespace: 'bench',
        hostname: L7_HOST,
        endpoints: [
          {
            workloadUid: l7.server.name,
            address: l7.server.ip,
            ports: { 80: 8080, 5201: 5201 },
            identity: `spiffe://cluster.local/ns/bench/sa/${l7.server.name}`,
            hbone: true,
            healthy: true,
          },
        ],
      },
    ],
  });
}

/**
 * The L7 path: the app in l7client dials the Service VIP; the client's ztunnel
 * sends it over HBONE to the waypoint (its own pod on node 2, not captured,
 * as in Istio), which parses HTTP, routes to the endpoint and dials it over
 * HBONE through the server's ztunnel. The ztunnels are the same ones ambit-l4
 * measures (one mesh for both arms: shared-mode ztunnels are per node); the
 * waypoint's PID is added, so CPU and RSS cover all three hops.
 */
const ambitL7: ArmStart = async (ctx) => {
  if (!waypointAvailable(ctx.meshEnv.ambit))
    return { unavailable: 'the waypoint (`ambit waypoint run`) is not in this build' };
  const { client, waypoint } = ctx.l7;
  const mesh = await ctx.startMesh();
  if ('unavailable' in mesh) return mesh;
  const file = join(ctx.dir, 'waypoint.json');
  writeFileSync(file, waypointConfig(ctx.l7));
  const [cmd, ...pre] = ctx.meshEnv.ambit as [string, ...string[]];
  const wp = ctx.topo.spawn(waypoint.netns, cmd, [
    ...pre,
    '--log-level=warn',
    'waypoint',
    'run',
    '--name=waypoint',
    '--namespace=bench',
    `--instance-ip=${waypoint.ip}`,
    `--node-name=${waypoint.node.name}`,
    `--local-config=${file}`,
    `--ca-dir=${ctx.meshEnv.caDir}`,
  ]);
  if (wp.pid === undefined) throw new Error('waypoint did not start');
  await readyIn(waypoint.netns);
  return {
    http: dialer(client.netns, L7_VIP, 80),
    iperf: { netns: client.netns, host: L7_VIP, port: 5201 },
    pids: [...mesh.pids, wp.pid],
    roles: [...mesh.pids.map(() => 'ztunnel'), 'waypoint'],
    close: mesh.close,
  };
};

export const ARMS: Record<ArmName, ArmStart> = {
  direct,
  stunnel,
  'haproxy-tcp': haproxyTcp,
  'haproxy-http': haproxyHttp,
  'ambit-l4': ambitL4,
  'ambit-l7': ambitL7,
};
