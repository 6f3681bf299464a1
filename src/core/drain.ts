/**
 * Graceful drain with a deadline, for every long-lived thing (listeners,
 * pools, xDS streams, servers). A component registers a task; `drain()` asks
 * every task to finish gracefully and, when the deadline passes, to force-close.
 *
 * Invariant: `drain()` always resolves, by the deadline plus the time the
 * force-close callbacks take; it never waits on a task forever.
 */
export interface DrainTask {
  name: string;
  /** Stop accepting new work and finish what is in flight. */
  graceful(): Promise<void>;
  /** Abort whatever is still running. Must be quick and must not throw. */
  force(): void;
}

export interface DrainResult {
  /** Names of tasks that had to be forced. */
  forced: string[];
}

export class Drain {
  private readonly tasks = new Set<DrainTask>();
  private draining: Promise<DrainResult> | undefined;

  register(task: DrainTask): () => void {
    this.tasks.add(task);
    return () => this.tasks.delete(task);
  }

  get isDraining(): boolean {
    return this.draining !== undefined;
  }

  drain(deadlineMs: number): Promise<DrainResult> {
    this.draining ??= this.run(deadlineMs);
    return this.draining;
  }

  private async run(deadlineMs: number): Promise<DrainResult> {
    const pending = new Set(this.tasks);
    const done = [...this.tasks].map((t) =>
      t.graceful().then(
        () => pending.delete(t),
        () => pending.delete(t),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      // Not unref'd: a drain must keep the process alive until its deadline.
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([Promise.all(done), deadline]);
    clearTimeout(timer);
    const forced = [...pending].map((t) => {
      try {
        t.force();
      } catch {
        // force() must not throw; a bad one must not stop the others.
      }
      return t.name;
    });
    return { forced };
  }
}
