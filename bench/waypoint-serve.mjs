// Child of bench/waypoint.ts: the waypoint engine on <port>, forwarding to the
// backend over plain TCP, with the Istio metrics a real waypoint records.
// `--root dist` runs the compiled build with plain node (what `ambit waypoint
// run` runs in production); `--root src` needs `--import tsx`.
//
//   node [--import tsx] bench/waypoint-serve.mjs <port> <backendPort> --root src|dist
import net from 'node:net';

const [port, backend] = process.argv.slice(2, 4).map(Number);
const root = process.argv[process.argv.indexOf('--root') + 1] ?? 'src';
const base = new URL(`../${root}/`, import.meta.url);
const { create } = await import('@bufbuild/protobuf');
const { ServiceEndpointsSchema, WaypointServiceSchema } = await import(
  new URL('gen/ambit/waypoint_pb.js', base).href
);
const { ConfigStore, WaypointMetrics, WaypointProxy } = await import(
  new URL('waypoint/index.js', base).href
);
const { logs } = await import(new URL('telemetry/index.js', base).href);
const { Registry } = await import('prom-client');
logs.configure({ level: 'warn' });
// A clean exit, so `--cpu-prof` writes its profile.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
const store = new ConfigStore();
const ns = 'bench';
const hostname = 'backend.bench.svc.cluster.local';
store.applyServices([
  create(WaypointServiceSchema, {
    name: 'backend',
    namespace: ns,
    hostname,
    ports: [{ port: 80, name: 'http', appProtocol: 'http' }],
  }),
]);
store.applyEndpoints([
  create(ServiceEndpointsSchema, {
    name: 'backend',
    namespace: ns,
    hostname,
    endpoints: [
      {
        workloadUid: 'b',
        address: new Uint8Array([127, 0, 0, 1]),
        ports: { 80: backend },
        healthy: true,
      },
    ],
  }),
]);
const proxy = new WaypointProxy({
  store,
  metrics: new WaypointMetrics(new Registry()),
  connector: {
    connect: (t) =>
      new Promise((resolve, reject) => {
        // As production's HBONE connector: Nagle off on every upstream socket.
        const s = net.connect({ port: t.port, host: t.endpoint.address, noDelay: true }, () =>
          resolve(s),
        );
        s.once('error', reject);
      }),
  },
});
net
  .createServer({ noDelay: true }, (s) =>
    proxy.handle(s, { service: `${ns}/${hostname}`, port: 80, sourceIp: '127.0.0.1' }),
  )
  .listen(port, '127.0.0.1', () => process.send?.('ready'));
