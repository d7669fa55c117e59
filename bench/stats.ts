// Timing and reporting helpers shared by the benchmarks: a bounded sampler (count AND wall-time limits), nearest-rank
// percentiles, and one-line / table formatting. Latencies are measured with process.hrtime.bigint().

export interface BenchResult {
  /** Scenario id, e.g. "admission/distribute-evenly". */
  name: string;
  iterations: number;
  /** Wall time of the measured loop (includes per-iteration harness work such as binding the pod). */
  totalMs: number;
  /** iterations / totalMs. */
  opsPerSec: number;
  /** Latency of the measured operation alone. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Free text: sizes, outcomes. */
  note: string;
  /** True when the sampler stopped on its time budget before reaching the iteration count. */
  timeCapped: boolean;
}

export interface SamplerLimits {
  /** Measured iterations (after warm-up). */
  iterations: number;
  /** Wall-time budget of the measured loop, ms; the loop stops early when it is exceeded. */
  maxMs: number;
}

/**
 * Bounded measurement loop:
 *   const s = new Sampler(limits);
 *   while (s.more()) { setup(); s.start(); op(); s.stop(); teardown(); }
 * `more()` is false after `iterations` samples or once `maxMs` of wall time has passed since the first start.
 */
export class Sampler {
  private readonly samples: number[] = [];
  private t0 = 0n;
  private loopStart = 0n;
  private loopEnd = 0n;
  private capped = false;

  constructor(private readonly limits: SamplerLimits) {}

  more(): boolean {
    if (this.samples.length >= this.limits.iterations) return false;
    if (this.loopStart !== 0n && Number(process.hrtime.bigint() - this.loopStart) / 1e6 > this.limits.maxMs) {
      this.capped = true;
      return false;
    }
    return true;
  }

  start(): void {
    this.t0 = process.hrtime.bigint();
    if (this.loopStart === 0n) this.loopStart = this.t0;
  }

  /** Records the sample; returns its latency in ms. */
  stop(): number {
    const t1 = process.hrtime.bigint();
    const ms = Number(t1 - this.t0) / 1e6;
    this.samples.push(ms);
    this.loopEnd = t1;
    return ms;
  }

  get count(): number {
    return this.samples.length;
  }

  /** The recorded latencies (ms), in measurement order. */
  latencies(): readonly number[] {
    return this.samples;
  }

  result(name: string, note = ""): BenchResult {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const totalMs = this.loopStart === 0n ? 0 : Number(this.loopEnd - this.loopStart) / 1e6;
    const n = sorted.length;
    const sum = sorted.reduce((a, b) => a + b, 0);
    return {
      name,
      iterations: n,
      totalMs,
      opsPerSec: totalMs > 0 ? (n * 1000) / totalMs : 0,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: n > 0 ? sorted[n - 1] : 0,
      meanMs: n > 0 ? sum / n : 0,
      note,
      timeCapped: this.capped,
    };
  }
}

/** A result from latencies gathered outside a Sampler (e.g. by concurrent callers), over `totalMs` of wall time. */
export function resultOf(name: string, latencies: readonly number[], totalMs: number, note = "", timeCapped = false): BenchResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    name,
    iterations: n,
    totalMs,
    opsPerSec: totalMs > 0 ? (n * 1000) / totalMs : 0,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: n > 0 ? sorted[n - 1] : 0,
    meanMs: n > 0 ? sorted.reduce((a, b) => a + b, 0) / n : 0,
    note,
    timeCapped,
  };
}

/** Nearest-rank percentile of an ascending array (0 for an empty one). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Runs `fn` `times` times and returns the median latency in ms (for phase profiles). */
export function medianMs(times: number, fn: () => unknown): number {
  const out: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(out);
}

/** Wall time of `fn` in ms, with its result. */
export function timed<T>(fn: () => T): { ms: number; value: T } {
  const t0 = process.hrtime.bigint();
  const value = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

export function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function fmtRate(r: number): string {
  return r >= 100 ? Math.round(r).toLocaleString("en-US") : r.toFixed(1);
}

export function fmtInt(n: number): string {
  return n.toLocaleString("en-US");
}

/** The one line printed per benchmark. */
export function formatLine(r: BenchResult): string {
  return (
    `${r.name}: iterations=${r.iterations} total=${fmtMs(r.totalMs)}ms ops/s=${fmtRate(r.opsPerSec)} ` +
    `p50=${fmtMs(r.p50Ms)}ms p99=${fmtMs(r.p99Ms)}ms max=${fmtMs(r.maxMs)}ms` +
    (r.timeCapped ? " [stopped on time budget]" : "") +
    (r.note ? ` | ${r.note}` : "")
  );
}

/**
 * Counts of decision outcomes, formatted "success=10 failure-fit=2"; with latencies given, each outcome also shows
 * its own p50 ("success=10 (p50 0.61ms)"), which separates fast and slow paths that share one scenario.
 */
export class Counter {
  private readonly counts = new Map<string, number>();
  private readonly latencies = new Map<string, number[]>();
  add(key: string, ms?: number): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (ms !== undefined) {
      let l = this.latencies.get(key);
      if (!l) this.latencies.set(key, (l = []));
      l.push(ms);
    }
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  toString(): string {
    const withP50 = this.latencies.size > 1;
    return [...this.counts.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([k, v]) => {
        const l = this.latencies.get(k);
        return withP50 && l ? `${k}=${v} (p50 ${fmtMs(median(l))}ms)` : `${k}=${v}`;
      })
      .join(" ");
  }
}

/** Plain-text table with right-aligned numeric columns. */
export function table(headers: string[], rows: string[][], alignRight: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (alignRight[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
