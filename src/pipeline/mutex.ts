// A FIFO async mutex: decisions are made one at a time, including the awaited reservation writes,
// so no two decisions can promise the same capacity.

export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
