/** PeerAuthentication, Sidecar, ServiceEntry and WorkloadEntry: kept, changed or gaps. */
import { finding, itemContext } from '../features.js';
import type { Inventory } from '../inventory.js';
import type { Finding } from '../types.js';

export function analyzeSecurity(inv: Inventory): Finding[] {
  const out: Finding[] = [];
  for (const pa of inv.peerAuthentications) {
    const ctx = itemContext(pa);
    const mode = pa.spec.mtls?.mode ?? 'UNSET';
    if (mode === 'DISABLE') out.push(finding('pa.disable', ctx, 'mtls.mode DISABLE'));
    else out.push(finding('pa.mode', ctx, `mtls.mode ${mode}`));
    const ports = Object.entries(pa.spec.portLevelMtls ?? {});
    if (ports.length > 0) {
      out.push(
        finding(
          'pa.portLevel',
          ctx,
          ports.map(([p, m]) => `${p}: ${m.mode ?? 'UNSET'}`).join(', '),
        ),
      );
    }
  }
  for (const s of inv.sidecars) {
    const egress = JSON.stringify(s.spec.outboundTrafficPolicy ?? {});
    out.push(
      finding(
        'sidecar.resource',
        itemContext(s),
        egress.includes('REGISTRY_ONLY')
          ? 'outboundTrafficPolicy REGISTRY_ONLY'
          : 'egress/ingress scoping',
      ),
    );
  }
  for (const se of inv.serviceEntries)
    out.push(finding('se.kept', itemContext(se), (se.spec.hosts ?? []).join(', ')));
  for (const we of inv.workloadEntries)
    out.push(finding('we.kept', itemContext(we), String(we.spec.address ?? '')));
  return out;
}
