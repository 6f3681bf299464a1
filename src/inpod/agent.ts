/**
 * TEMPORARY STUB of the node agent (the real one is built on branch `inpod`;
 * when it merges, take that side entirely). It only keeps the interface the
 * local runner codes against, and installs the in-pod rules so the runner's
 * own paths can be exercised; it never talks to ztunnel.
 */
import type { Ledger } from '../platform/index.js';
import { applyInpodRules, removeInpodRules } from './apply.js';

export interface EnrolledPod {
  uid: string;
  namespace: string;
  name: string;
  serviceAccount: string;
  /** netns name */
  netns: string;
  ips: string[];
}

export class NodeAgent {
  private readonly pods = new Map<string, EnrolledPod>();
  readonly ztunnelConnected = false;

  constructor(readonly opts: { socketPath: string; ledger: Ledger; mark?: number }) {}

  async start(): Promise<void> {}

  async enroll(pod: EnrolledPod): Promise<void> {
    await applyInpodRules(pod.netns, {});
    this.pods.set(pod.uid, pod);
  }

  async release(uid: string, _opts?: { podDeleted?: boolean }): Promise<void> {
    const pod = this.pods.get(uid);
    if (pod) await removeInpodRules(pod.netns, {});
    this.pods.delete(uid);
  }

  enrolled(): EnrolledPod[] {
    return [...this.pods.values()];
  }

  async close(): Promise<void> {}
}
