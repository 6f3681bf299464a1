/**
 * `ambit waypoint run`: runs one waypoint (the opt-in L7 proxy) as a pod
 * process. Flags override env (src/config/waypoint.ts). SIGTERM/SIGINT drain
 * with the termination deadline; a second signal stops at once.
 * (`ambit waypoint apply|list|delete|status` manage the Gateway resources and
 * are registered on the same command by the local-cluster CLI.)
 */
import type { Command } from 'commander';
import { buildWaypoint } from '../app/index.js';
import { processEnv } from '../config/index.js';
import { parseWaypointConfig, type WaypointFlags } from '../config/waypoint.js';
import { logger } from '../telemetry/index.js';

const ENV_HELP = `
Environment (flags win):
  WAYPOINT_NAME, POD_NAMESPACE      the waypoint Gateway's name (default waypoint) and namespace
  SERVICE_ACCOUNT                   identity spiffe://<td>/ns/<ns>/sa/<sa> (default: the name)
  POD_NAME, INSTANCE_IP, NODE_NAME  for the xDS node id and logs
  XDS_ADDRESS                       control plane xDS, e.g. https://istiod.istio-system.svc:15012
  LOCAL_XDS_PATH                    local config file instead of xDS (tests, single host)
  CA_ADDRESS, CA_ROOT_CA            mesh CA (default: XDS_ADDRESS) and its root certificate file
  ALT_CA_HOSTNAME                   name on the control plane's certificate (istiod.istio-system.svc)
  AUTH_TOKEN                        bearer token file for xDS and CA
  AMBIT_CA_DIR                      local file CA directory (\`ambit ca init\`)
  AMBIT_BIND_ADDRESS                HBONE listener address (0.0.0.0)
  TRUST_DOMAIN, CLUSTER_ID          cluster.local, Kubernetes
  POOL_MAX_STREAMS_PER_CONNECTION, POOL_UNUSED_RELEASE_TIMEOUT   upstream HBONE pool (100, 5m)
  CONNECTION_TERMINATION_DEADLINE   drain deadline on SIGTERM (5s)
  SECRET_TTL                        requested certificate lifetime (24h)
  AMBIT_WAYPOINT_HEADERS_TIMEOUT    time to receive a complete request head (10s; then 408)
  AMBIT_WAYPOINT_IDLE_TIMEOUT       idle downstream connections are closed after (5m)
  AMBIT_WAYPOINT_MAX_HEADER_BYTES   largest request head (16384; over it 431)
  AMBIT_WAYPOINT_MAX_HEADERS        most request header fields (100; over it 431)
  AMBIT_WAYPOINT_MAX_BUFFERED_BODY  bodies up to this are buffered for retries/mirrors (65536)

Listeners: 15008 HBONE; admin 127.0.0.1:15000, metrics :15020, readiness :15021.
`;

/** Adds `run` to the `waypoint` command (created here if nobody registered it yet). */
export function registerWaypoint(program: Command): void {
  const existing = program.commands.find((c) => c.name() === 'waypoint');
  const waypoint =
    existing ?? program.command('waypoint').description('waypoints: the opt-in L7 proxy');
  waypoint
    .command('run')
    .description('run one waypoint: HBONE in, HTTPRoute/L7 policy/resilience, HBONE out')
    .option('--name <name>', 'waypoint (Gateway) name (WAYPOINT_NAME, default waypoint)')
    .option('-n, --namespace <ns>', 'namespace (POD_NAMESPACE)')
    .option('--service-account <sa>', 'service account of the identity (SERVICE_ACCOUNT)')
    .option('--pod-name <name>', 'pod name (POD_NAME)')
    .option('--instance-ip <ip>', 'pod IP (INSTANCE_IP)')
    .option('--node-name <name>', 'node name (NODE_NAME)')
    .option('--trust-domain <td>', 'trust domain (TRUST_DOMAIN)')
    .option('--local-config <file>', 'local config file (LOCAL_XDS_PATH)')
    .option('--xds-address <url>', 'control plane xDS address (XDS_ADDRESS)')
    .option('--ca-address <url>', 'mesh CA address (CA_ADDRESS)')
    .option('--ca-root <file>', 'mesh root certificate (CA_ROOT_CA)')
    .option('--token-file <file>', 'bearer token file (AUTH_TOKEN)')
    .option('--ca-dir <dir>', 'local file CA directory (AMBIT_CA_DIR)')
    .option('--bind-address <ip>', 'HBONE listener address (AMBIT_BIND_ADDRESS)')
    .option('--hbone-port <port>', 'HBONE listener port (15008)')
    .option('--upstream-hbone-port <port>', 'HBONE port dialled on endpoints (15008)')
    .option('--admin-port <port>', 'admin port on 127.0.0.1 (15000)')
    .option('--metrics-port <port>', 'Prometheus port (15020)')
    .option('--readiness-port <port>', 'readiness port (15021)')
    .option('--headers-timeout <duration>', 'complete request head within (10s; then 408)')
    .option('--idle-timeout <duration>', 'close idle downstream connections after (5m)')
    .option('--max-header-bytes <bytes>', 'largest request head (16384; over it 431)')
    .option('--max-headers <n>', 'most request header fields (100; over it 431)')
    .option('--max-buffered-body <bytes>', 'request bodies buffered for retries/mirrors (65536)')
    .addHelpText('after', ENV_HELP)
    .action(async (flags: WaypointFlags) => {
      const config = parseWaypointConfig(processEnv(), flags);
      const log = logger('waypoint');
      const wp = await buildWaypoint(config);
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        signals += 1;
        if (signals === 1) {
          log.info({ signal: sig }, 'shutting down');
          void wp.drain();
        } else void wp.destroy();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await wp.run();
      await wp.closed;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    });
}
