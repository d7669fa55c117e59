// A FIFO async mutex for exclusive sections over the engine state: informer events, garbage collection and
// reconciliation (src/kube/), and the synchronous part of every decision. A decision releases it before its
// reservation writes go out (src/pipeline/reservation-pipeline.ts), so nothing waits here for a network write
// that a decision sent. Listeners registered with `afterEach` run after every section (the scheduler uses it
// to start compaction as its own step once a state change made some due).
//
// A section that had to wait starts only after a turn of the event loop. Chained on promises alone, a backlog of
// sections (a burst of 64 filter calls) runs back to back as microtasks, and no socket is read until the last
// one is done: a read RPC, a health probe or an informer event waited for the whole backlog (hundreds of
// milliseconds). With the turn, I/O that arrived meanwhile is served between two sections. An uncontended
// section starts at once, as before.

export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private readonly listeners: (() => void)[] = [];
  /** Sections queued or running. */
  private pending = 0;

  run<T>(fn: () => Promise<T>): Promise<T> {
    const contended = this.pending > 0;
    this.pending++;
    const start = contended ? this.tail.then(nextTurn) : this.tail;
    const result = start.then(fn);
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
    this.pending--;
    for (const l of this.listeners) l();
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
