/**
 * Conditions found while translating: a policy half-applied to ztunnel, a
 * waypoint that is not ready, an unsupported mode. They do not stop
 * translation; they are shown by `ambit get` and the status endpoint, the
 * way Istio writes them into the object's status.
 */
export interface TranslationStatus {
  /** `Kind`, namespace and name of the resource the condition is about. */
  kind: string;
  namespace: string;
  name: string;
  /** Machine-readable reason, Istio-style: `UnsupportedValue`, `WaypointNotReady`, … */
  reason: string;
  message: string;
}

export class StatusSink {
  readonly items: TranslationStatus[] = [];

  add(kind: string, namespace: string, name: string, reason: string, message: string): void {
    this.items.push({ kind, namespace, name, reason, message });
  }
}
