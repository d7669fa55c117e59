// Orders copies of one reservation without reading order into resourceVersions, which the API conventions
// make opaque: clients may only pass them back or compare them for equality.
//
// What orders copies instead is the watch: the API server delivers one collection's events in commit order.
// The writer reports every reservation write it sends (`begin`) and what the server stored it as (`end`); the
// reservation feed asks, for each copy it gets, whether it is current (`current`):
// - a write's resourceVersion is pending until the watch delivers it. Every copy the watch delivers while a
//   write of ours is pending was committed before that write: an older echo of our own write, or an older
//   write of someone else. It must not replace what we stored, and is dropped;
// - the watch delivering a pending version ends that wait (and that of our earlier writes, committed before it);
// - a version the watch delivered while our write was in flight, before we learnt its version, is not
//   pending: the feed is at it or past it already. Nor is the version the feed last delivered: an update that
//   changes nothing is not stored again, and the server answers with the version it has (no event follows);
// - a list (a re-list after a lost watch) is not in watch order: its copy may be older or newer than a
//   pending write. It is taken as current and ends the waits of that reservation; the watch that follows from
//   the list's version brings the state forward again should the list have been the older one. A copy that
//   is current may still be the very version the engine holds (our own write): the feed skips those itself.
//
// State: per reservation (namespace/appId) the last version the feed delivered (until it is deleted), and for
// reservations with writes in progress the pending versions, the writes in flight and the versions delivered
// meanwhile.

export class ReservationEchoes {
  private readonly pending = new Map<string, string[]>();
  private readonly inFlight = new Map<string, { writes: number; delivered: Set<string> }>();
  private readonly last = new Map<string, string>();

  /** A write of the reservation `key` is about to be sent. */
  begin(key: string): void {
    const f = this.inFlight.get(key);
    if (f) f.writes++;
    else this.inFlight.set(key, { writes: 1, delivered: new Set() });
  }

  /** The write ended: stored as `resourceVersion`, or not stored (undefined). */
  end(key: string, resourceVersion: string | undefined): void {
    const f = this.inFlight.get(key);
    if (resourceVersion && !f?.delivered.has(resourceVersion) && this.last.get(key) !== resourceVersion) {
      const list = this.pending.get(key);
      if (list) list.push(resourceVersion);
      else this.pending.set(key, [resourceVersion]);
    }
    if (f && --f.writes <= 0) this.inFlight.delete(key);
  }

  /**
   * Whether a copy of reservation `key` at `resourceVersion` (a watch event, or an item of a list when
   * `listed`) is current: false for one committed before a write of ours the watch has not delivered yet.
   */
  current(key: string, resourceVersion: string, listed = false): boolean {
    this.inFlight.get(key)?.delivered.add(resourceVersion);
    this.last.set(key, resourceVersion);
    const list = this.pending.get(key);
    if (!list) return true;
    const at = list.indexOf(resourceVersion);
    if (listed || at === list.length - 1) {
      this.pending.delete(key);
      return true;
    }
    if (at >= 0) list.splice(0, at + 1);
    return false;
  }

  /** The reservation was deleted and the feed applied it: nothing more to remember of it. */
  forget(key: string): void {
    this.last.delete(key);
    if (!this.inFlight.has(key)) this.pending.delete(key);
  }

  /** Whether a write of `key` is waiting for its echo (tests, diagnostics). */
  isPending(key: string): boolean {
    return this.pending.has(key);
  }
}
