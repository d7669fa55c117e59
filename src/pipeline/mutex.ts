// A FIFO async mutex for exclusive sections over the engine state: informer events, garbage collection and
// reconciliation (src/kube/), and the synchronous part of every decision. A decision releases it before its
// reservation writes go out (src/pipeline/reservation-pipeline.ts), so nothing waits here for a network write
// that a decision sent. Listeners registered with `afterEach` run after every section (the scheduler uses it
// to start compaction as its own step once a state change made some due).

export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private readonly listeners: (() => void)[] = [];

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => this.released(),
      () => this.released(),
    );
    return result;
  }

  /** Calls `listener` after every section ends. */
  afterEach(listener: () => void): void {
    this.listeners.push(listener);
  }

  private released(): void {
    for (const l of this.listeners) l();
  }
}
