/**
 * Readiness as the sum of registered tasks (ztunnel's readiness/): a component
 * is ready only when every task it registered (listeners bound, certificates
 * loaded, xDS synced) has completed.
 */
export class Readiness {
  private readonly pending = new Set<string>();

  /** Registers a task; call the returned function when it is done. Idempotent. */
  register(task: string): () => void {
    this.pending.add(task);
    return () => {
      this.pending.delete(task);
    };
  }

  get ready(): boolean {
    return this.pending.size === 0;
  }

  /** Tasks still outstanding, for the readiness endpoint's body. */
  get waitingFor(): string[] {
    return [...this.pending].sort();
  }
}
