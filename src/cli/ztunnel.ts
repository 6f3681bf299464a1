/**
 * `ambit ztunnel`: runs the per-node L4 proxy. Flags override Istio's env
 * variables (src/config/ztunnel.ts). SIGTERM/SIGINT drain with the
 * termination deadline; a second signal stops at once.
 */
import type { Command } from 'commander';
import { buildZtunnel } from '../app/index.js';
import { processEnv } from '../config/index.js';
import { parseZtunnelConfig, type ZtunnelFlags } from '../config/ztunnel.js';
import { logger } from '../telemetry/index.js';

const ENV_HELP = `
Environment (Istio ztunnel names; flags win):
  PROXY_MODE                        shared (in-pod, driven by the node agent) | dedicated
  INPOD_UDS                         shared mode: the node agent's ZDS socket (/var/run/ztunnel/ztunnel.sock)
  PROXY_WORKLOAD_INFO               dedicated mode's workload: namespace/pod/serviceAccount
  LOCAL_XDS_PATH, LOCAL_XDS         local config file (re-read on change) / inline YAML
  XDS_ADDRESS                       control plane xDS, e.g. https://istiod.istio-system.svc:15012
  CA_ADDRESS, CA_ROOT_CA            mesh CA address and its root certificate file
  ALT_CA_HOSTNAME                   name on the control plane's certificate (istiod.istio-system.svc)
  AUTH_TOKEN                        bearer token file for xDS and CA
  AMBIT_CA_DIR                      local file CA directory (\`ambit ca init\`)
  UNSTABLE_ENABLE_SOCKS5            SOCKS5 outbound on 127.0.0.1:15080
  AMBIT_BIND_ADDRESS                data-plane listener address (0.0.0.0)
  AMBIT_WORKLOAD_WAIT_TIMEOUT       wait for a workload's config/certificate (5s)
  ENABLE_ORIG_SRC                   connect to local apps from the client IP (IP_TRANSPARENT)
  POOL_MAX_STREAMS_PER_CONNECTION   HBONE streams per pooled connection (100)
  POOL_UNUSED_RELEASE_TIMEOUT       idle pooled connection release (5m)
  HTTP2_STREAM_WINDOW_SIZE          4 MiB    HTTP2_CONNECTION_WINDOW_SIZE  16 MiB
  HTTP2_FRAME_SIZE                  1 MiB
  CONNECTION_TERMINATION_DEADLINE   drain deadline on SIGTERM (5s; also TERMINATION_GRACE_PERIOD_SECONDS)
  SECRET_TTL                        requested certificate lifetime (24h)
  CLUSTER_ID, CLUSTER_DOMAIN, TRUST_DOMAIN, NETWORK, NODE_NAME, ROOT_NAMESPACE
  PACKET_MARK                       SO_MARK on the proxy's own sockets (1337)

Listeners: 15001 outbound capture, 15006 inbound plaintext, 15008 HBONE, 15080 SOCKS5;
admin 127.0.0.1:15000 (/config_dump /logging /quitquitquit), metrics :15020, readiness :15021.
`;

export function registerZtunnel(program: Command): void {
  program
    .command('ztunnel')
    .description('run the L4 node proxy (HBONE mTLS tunnels, L4 policy, telemetry)')
    .option('--mode <mode>', 'shared | dedicated (PROXY_MODE)')
    .option('--workload <ns/pod/sa>', 'the workload served in dedicated mode (PROXY_WORKLOAD_INFO)')
    .option('--local-config <file>', 'local config YAML (LOCAL_XDS_PATH)')
    .option('--xds-address <url>', 'control plane xDS address (XDS_ADDRESS)')
    .option('--ca-address <url>', 'mesh CA address (CA_ADDRESS)')
    .option('--ca-root <file>', 'mesh root certificate (CA_ROOT_CA)')
    .option('--token-file <file>', 'bearer token file (AUTH_TOKEN)')
    .option('--ca-dir <dir>', 'local file CA directory (AMBIT_CA_DIR)')
    .option('--socks5', 'enable the SOCKS5 outbound listener (UNSTABLE_ENABLE_SOCKS5)')
    .option('--node-name <name>', 'node name (NODE_NAME)')
    .option('--inpod-socket <path>', "shared mode: the node agent's ZDS unix socket (INPOD_UDS)")
    .option('--trust-domain <td>', 'trust domain (TRUST_DOMAIN)')
    .option('--bind-address <ip>', 'address of the data-plane listeners (AMBIT_BIND_ADDRESS)')
    .option('--hbone-port <port>', 'HBONE port, listened on and dialled on peers (15008)')
    .option('--outbound-port <port>', 'outbound capture port (15001)')
    .option('--inbound-plaintext-port <port>', 'inbound plaintext capture port (15006)')
    .option('--socks5-port <port>', 'SOCKS5 port (15080)')
    .option('--admin-port <port>', 'admin port on 127.0.0.1 (15000)')
    .option('--metrics-port <port>', 'Prometheus port (15020)')
    .option('--readiness-port <port>', 'readiness port (15021)')
    .option(
      '--workload-wait-timeout <duration>',
      'wait for a workload config/certificate (AMBIT_WORKLOAD_WAIT_TIMEOUT, 5s)',
    )
    .addHelpText('after', ENV_HELP)
    .action(async (flags: ZtunnelFlags) => {
      const config = parseZtunnelConfig(processEnv(), flags);
      const log = logger('ztunnel');
      const zt = await buildZtunnel(config);
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        signals += 1;
        if (signals === 1) {
          log.info({ signal: sig }, 'shutting down');
          void zt.drain();
        } else void zt.destroy();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await zt.run();
      await zt.closed;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    });
}
