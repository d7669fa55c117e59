import { describe, expect, it } from "vitest";
import { Mutex } from "../../src/pipeline/mutex.js";

describe("Mutex", () => {
  it("runs sections one at a time, in order", async () => {
    const m = new Mutex();
    const log: string[] = [];
    let inside = 0;
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        m.run(async () => {
          inside++;
          expect(inside).toBe(1);
          log.push(`start ${i}`);
          await new Promise((r) => setTimeout(r, 1));
          log.push(`end ${i}`);
          inside--;
        }),
      ),
    );
    expect(log).toEqual(["start 0", "end 0", "start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
  });

  it("lets I/O that arrived meanwhile run between two queued sections, not after the whole backlog", async () => {
    const m = new Mutex();
    const log: string[] = [];
    const sections = Array.from({ length: 20 }, (_, i) => m.run(async () => void log.push(`section ${i}`)));
    // Stands for a socket read (a read RPC, a probe, an informer event) that arrives while the backlog runs.
    setImmediate(() => log.push("io"));
    await Promise.all(sections);
    expect(log.indexOf("io")).toBeGreaterThan(0);
    expect(log.indexOf("io")).toBeLessThan(5);
  });

  it("starts an uncontended section at once and keeps going after a section throws", async () => {
    const m = new Mutex();
    const log: string[] = [];
    const failed = m.run(async () => {
      throw new Error("boom");
    });
    await expect(failed).rejects.toThrow("boom");
    let ran = false;
    const p = m.run(async () => {
      ran = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(ran).toBe(true);
    await p;
    m.afterEach(() => log.push("after"));
    await m.run(async () => undefined);
    expect(log).toEqual(["after"]);
  });
});
