/**
 * Text the local cluster writes into each pod: its hosts file (service names
 * to VIPs, as cluster DNS would answer), resolv.conf, and, for pods outside
 * the mesh, the nftables DNAT that stands in for kube-proxy. Pure, so golden-
 * and table-tested.
 */
import type { PodPlan, ServicePlan } from './topology.js';
import { SERVICE_CIDR } from './topology.js';

/** Name of the per-pod table that DNATs service VIPs (pods outside the mesh only). */
export const SERVICE_TABLE = 'ambit-services';

/**
 * `/etc/hosts` for a pod: `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local`
 * for every service, plus the short `<svc>` for services in the pod's own namespace.
 */
export function hostsFile(pod: PodPlan, services: readonly ServicePlan[]): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${pod.ip}\t${pod.name}`,
  ];
  for (const s of services) {
    const names = [`${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`];
    names.push(`${s.name}.${s.namespace}.svc.cluster.local`);
    if (s.namespace === pod.namespace) names.unshift(s.name);
    lines.push(`${s.vip}\t${names.join(' ')}`);
  }
  return `# written by ambit up for ${pod.namespace}/${pod.name}\n${lines.join('\n')}\n`;
}

/** resolv.conf: Kubernetes' search path; no nameserver (names come from the hosts file). */
export function resolvConf(pod: PodPlan): string {
  return `search ${pod.namespace}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:1\n`;
}

/**
 * kube-proxy's job for one pod: VIP:port → a random ready endpoint
 * (`numgen random mod N`), and a TCP reset for VIPs without endpoints (not a
 * silent timeout). DNAT in the pod's own output hook keeps the client's source
 * address, and conntrack un-NATs the replies.
 */
export function serviceRuleset(services: readonly ServicePlan[]): string {
  const t = `ip ${SERVICE_TABLE}`;
  const out = [
    `add table ${t}`,
    `flush table ${t}`,
    `add chain ${t} output { type nat hook output priority -100 ; }`,
    `add chain ${t} unreachable { type filter hook output priority 0 ; }`,
  ];
  for (const s of services) {
    s.ports.forEach((p, i) => {
      if (p.protocol !== 'TCP' && p.protocol !== 'UDP') return;
      const proto = p.protocol.toLowerCase();
      const targets = s.endpoints.map((e, n) => `${n} : ${e.ip} . ${e.ports[i]}`);
      if (targets.length === 0) return;
      out.push(
        `add rule ${t} output ip daddr ${s.vip} ${proto} dport ${p.port} dnat ip addr . port to numgen random mod ${targets.length} map { ${targets.join(', ')} }`,
      );
    });
  }
  out.push(
    `add rule ${t} unreachable ip daddr ${SERVICE_CIDR} meta l4proto tcp reject with tcp reset`,
  );
  out.push(`add rule ${t} unreachable ip daddr ${SERVICE_CIDR} reject`);
  return `${out.join('\n')}\n`;
}
