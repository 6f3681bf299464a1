/**
 * The in-pod capture rules, as Istio's CNI agent writes them inside each
 * enrolled pod's network namespace (istio/istio cni/pkg/nftables, "default"
 * golden), for nftables. Pure: {@link inpodRuleset} returns the text for
 * `nft -f -`; applying it is in apply.ts.
 *
 * Inbound capture uses REDIRECT to 15006 in nat PREROUTING, as Istio's current
 * rules do, not TPROXY: REDIRECT fails closed (no listener: connection
 * refused), while a TPROXY rule silently stops matching when the listener lacks
 * IP_TRANSPARENT and the packet reaches the app unproxied. The original
 * destination then comes from SO_ORIGINAL_DST in both directions.
 */

/** Istio's defaults (istio/ztunnel ARCHITECTURE.md, istio/istio cni). */
export const INPOD_DEFAULTS = {
  outboundPort: 15001,
  inboundPlaintextPort: 15006,
  inboundHbonePort: 15008,
  dnsPort: 15053,
  /** SO_MARK on every socket the proxy opens in the pod (1337). */
  proxyMark: 0x539,
  /** Connmark for connections the proxy opened with a spoofed source. */
  connMark: 0x111,
  /** Only these mark bits are ambit's; the rest belong to others (CNI, kube-proxy). */
  markMask: 0xfff,
  /** Policy-routing table that routes everything locally (replies to spoofed sources). */
  routeTable: 100,
  /** The host SNATs kubelet probes to this address (HOST_PROBE_SNAT_IP). */
  probeSnatV4: '169.254.7.127',
  probeSnatV6: 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff',
} as const;

export interface InpodRuleOptions {
  /** Outbound capture listener port. Default 15001. */
  outboundPort?: number;
  /** Inbound plaintext capture listener port. Default 15006. */
  inboundPlaintextPort?: number;
  /** Inbound HBONE port, delivered directly. Default 15008. */
  inboundHbonePort?: number;
  /** Proxy socket mark. Default 0x539. */
  proxyMark?: number;
  /** Connmark for spoofed-source connections. Default 0x111. */
  connMark?: number;
  /** Mark mask. Default 0xfff. */
  markMask?: number;
  /** Kubelet probe SNAT addresses. Defaults 169.254.7.127 / fd16:9254:7127:1337:ffff:ffff:ffff:ffff. */
  probeSnatV4?: string;
  probeSnatV6?: string;
  /**
   * Capture DNS (UDP and TCP port 53) to the proxy's DNS server. Default false:
   * only enable it when a DNS proxy listens on `dnsPort`, or the pod loses DNS.
   */
  dns?: boolean;
  /** DNS proxy port. Default 15053. */
  dnsPort?: number;
  /**
   * Add IPv6 rules (loopback ::1, IPv6 probe address). Default false. Enable it
   * when the pod has IPv6 addresses and the proxy listens on IPv6 too; without
   * it IPv6 traffic is not captured.
   */
  ipv6?: boolean;
  /**
   * `ambit` (default): tables `inet ambit-nat|mangle|raw`, chains `ambit-*`.
   * `istio`: Istio's names (`inet istio-ambient-nat`, chains `istio-*`), for
   * a pod that must look exactly like an Istio-enrolled one.
   */
  naming?: 'ambit' | 'istio';
}

export interface InpodTables {
  nat: string;
  mangle: string;
  raw: string;
  /** See {@link anchorRuleset}. */
  anchor: string;
}

/** The nft table names (all family `inet`) the ruleset uses. */
export function inpodTables(naming: 'ambit' | 'istio' = 'ambit'): InpodTables {
  const p = naming === 'istio' ? 'istio-ambient' : 'ambit';
  return { nat: `${p}-nat`, mangle: `${p}-mangle`, raw: `${p}-raw`, anchor: `${p}-anchor` };
}

/**
 * The pod netns's permanent "anchor": an nft table that lives as long as the
 * netns (created with it, or at the latest at enrolment; removed only when the
 * pod is deleted), so that swapping rule sets (kube-proxy DNAT ⇄ in-pod
 * capture, enrol ⇄ release) never cuts connections already open. Two kernel
 * behaviours make it necessary (both shown by test/netns/inpod-ztunnel.test.ts):
 *
 * - nf_nat forgets the NAT bindings of existing conntrack entries when the
 *   last nat-type chain of the netns is unhooked (e.g. deleting the only NAT
 *   table): a redirected connection's next packet then leaves un-translated
 *   and the peer answers with a RST. The anchor's nat-type base chains keep
 *   the NAT hooks registered.
 * - conntrack itself is hooked into a netns only while some rule needs it
 *   (every `ct …`, `redirect`, `dnat` expression holds a reference). Flushing
 *   the capture rules and deleting the mangle table dropped the last one:
 *   established packets were no longer looked up at all, so not translated
 *   either (`conntrack -L` still listed the entry, its timer frozen). The
 *   anchor's `ct state invalid` rule holds that reference. It only counts:
 *   nat chains see the first packet of a connection, and never invalid ones.
 *
 * Idempotent, and never passes through a state without the anchor: `flush`
 * and `add rule` are one transaction, the new rule holds conntrack before the
 * old one lets go.
 */
export function anchorRuleset(naming: 'ambit' | 'istio' = 'ambit'): string {
  const t = `inet ${inpodTables(naming).anchor}`;
  const lines = [`add table ${t}`, `flush table ${t}`];
  for (const hook of ['prerouting', 'output']) {
    // Priority 100: after everyone's DNAT/REDIRECT (-100); it never translates anything.
    lines.push(
      `add chain ${t} ${hook} { type nat hook ${hook} priority 100 ; }`,
      `add rule ${t} ${hook} ct state invalid counter`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * The in-pod nftables ruleset. Idempotent: each table is added and flushed,
 * so re-applying replaces ambit's rules atomically and touches nothing else.
 */
export function inpodRuleset(opts: InpodRuleOptions = {}): string {
  const o = { ...INPOD_DEFAULTS, dns: false, ipv6: false, naming: 'ambit' as const, ...opts };
  const t = inpodTables(o.naming);
  const pre = o.naming === 'istio' ? 'istio-prerouting' : 'ambit-prerouting';
  const out = o.naming === 'istio' ? 'istio-output' : 'ambit-output';
  const mask = hex(o.markMask);
  const proxy = hex(o.proxyMark);
  const conn = hex(o.connMark);
  const lines: string[] = [];
  const table = (name: string, hooks: [string, string, number][]) => {
    lines.push(`add table inet ${name}`, `flush table inet ${name}`);
    for (const [chain, type, prio] of hooks) {
      lines.push(
        `add chain inet ${name} ${chain} { type ${type} hook ${chain} priority ${prio} ; }`,
      );
    }
    lines.push(`add chain inet ${name} ${pre}`, `add chain inet ${name} ${out}`);
  };
  const rule = (name: string, chain: string, body: string) =>
    lines.push(`add rule inet ${name} ${chain} ${body}`);
  // Per-family match pieces; IPv6 rules are added next to their IPv4 twins.
  const fams = o.ipv6
    ? [
        { ip: 'ip', lo: '127.0.0.1/32', probe: o.probeSnatV4 },
        { ip: 'ip6', lo: '::1/128', probe: o.probeSnatV6 },
      ]
    : [{ ip: 'ip', lo: '127.0.0.1/32', probe: o.probeSnatV4 }];

  // nat: the redirections.
  table(t.nat, [
    ['prerouting', 'nat', -100],
    ['output', 'nat', -100],
  ]);
  rule(t.nat, 'output', `jump ${out}`);
  rule(t.nat, 'prerouting', `jump ${pre}`);
  for (const f of fams) {
    // Kubelet probes (SNATed by the host) reach the app directly.
    rule(t.nat, pre, `meta l4proto tcp ${f.ip} saddr ${f.probe} counter accept`);
    rule(t.nat, out, `meta l4proto tcp ${f.ip} daddr ${f.probe} counter accept`);
  }
  for (const f of fams) {
    // Inbound: all TCP except HBONE and the proxy's own (spoofed-source) connections.
    rule(
      t.nat,
      pre,
      `${f.ip} daddr != ${f.lo} tcp dport != ${o.inboundHbonePort} mark and ${mask} != ${proxy} counter redirect to :${o.inboundPlaintextPort}`,
    );
  }
  if (o.dns) {
    rule(
      t.nat,
      out,
      `oifname != lo mark and ${mask} != ${proxy} udp dport 53 counter redirect to :${o.dnsPort}`,
    );
    for (const f of fams) {
      rule(
        t.nat,
        out,
        `${f.ip} daddr != ${f.lo} tcp dport 53 mark and ${mask} != ${proxy} counter redirect to :${o.dnsPort}`,
      );
    }
  }
  // Replies of spoofed-source connections stay local (see mangle).
  rule(t.nat, out, `meta l4proto tcp mark and ${mask} == ${conn} counter accept`);
  for (const f of fams) {
    // Traffic to the pod's own addresses goes over lo and is captured inbound instead.
    rule(t.nat, out, `oifname lo ${f.ip} daddr != ${f.lo} counter accept`);
  }
  for (const f of fams) {
    // Outbound: all other TCP leaving the app, except the proxy's own sockets.
    rule(
      t.nat,
      out,
      `meta l4proto tcp ${f.ip} daddr != ${f.lo} mark and ${mask} != ${proxy} counter redirect to :${o.outboundPort}`,
    );
  }

  // mangle: connections the proxy opens (marked) get a connmark; the app's
  // replies on them get the mark back, so `ip rule fwmark` routes them locally
  // to the proxy's transparent socket instead of to the spoofed source.
  table(t.mangle, [
    ['prerouting', 'filter', -150],
    ['output', 'route', -150],
  ]);
  rule(t.mangle, 'prerouting', `jump ${pre}`);
  rule(t.mangle, 'output', `jump ${out}`);
  rule(
    t.mangle,
    pre,
    `meta mark & ${mask} == ${proxy} counter ct mark set ct mark & ${hex(~o.markMask >>> 0)} | ${conn}`,
  );
  rule(t.mangle, out, `ct mark and ${mask} == ${conn} counter meta mark set ct mark`);

  if (o.dns) {
    // raw: the DNS proxy's upstream queries and their replies use conntrack
    // zone 1, so they never collide with the app's redirected DNS flows.
    table(t.raw, [
      ['prerouting', 'filter', -300],
      ['output', 'filter', -300],
    ]);
    rule(t.raw, 'prerouting', `jump ${pre}`);
    rule(t.raw, 'output', `jump ${out}`);
    rule(t.raw, out, `udp dport 53 meta mark and ${mask} == ${proxy} counter ct zone set 1`);
    rule(t.raw, pre, `udp sport 53 meta mark and ${mask} != ${proxy} counter ct zone set 1`);
  }
  return `${lines.join('\n')}\n`;
}

/** Policy routing that goes with the ruleset (ip rule / ip route inside the pod netns). */
export interface InpodRouting {
  /** `ip -<family> rule add <args>` */
  rules: { family: 4 | 6; args: string[] }[];
  /** `ip -<family> route replace <args>` */
  routes: { family: 4 | 6; args: string[] }[];
}

export function inpodRouting(opts: InpodRuleOptions = {}): InpodRouting {
  const o = { ...INPOD_DEFAULTS, ipv6: false, ...opts };
  const table = String(INPOD_DEFAULTS.routeTable);
  const fams: (4 | 6)[] = o.ipv6 ? [4, 6] : [4];
  return {
    rules: fams.map((family) => ({
      family,
      args: ['fwmark', `${hex(o.connMark)}/${hex(o.markMask)}`, 'lookup', table],
    })),
    routes: fams.map((family) => ({
      family,
      args: ['local', family === 4 ? '0.0.0.0/0' : '::/0', 'dev', 'lo', 'table', table],
    })),
  };
}
