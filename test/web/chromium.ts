// Debian's chromium for the browser tests: installed with apt when missing (root only), then launched headless
// with the flags that work in containers.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

const APT_ATTEMPTS = 5;

/**
 * Installs Debian's chromium when it is missing; throws with a clear message when that is impossible.
 *
 * Another apt run may hold dpkg's lock at the same time (a second browser test file in another worker, or an
 * install on the same machine): apt waits for the lock, and a failed attempt is retried after a pause, checking
 * first whether the other run installed it meanwhile. A single try failed CI when two installs overlapped.
 */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM} is missing; install it with: apt-get install -y chromium`);
  const lockWait = ["-o", "DPkg::Lock::Timeout=300"];
  let last: unknown;
  for (let attempt = 1; attempt <= APT_ATTEMPTS; attempt++) {
    try {
      execFileSync("apt-get", [...lockWait, "update"], { stdio: "ignore", timeout: 600_000 });
      execFileSync("apt-get", [...lockWait, "install", "-y", "--no-install-recommends", "chromium"], {
        stdio: "ignore",
        timeout: 600_000,
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      });
    } catch (e) {
      last = e;
    }
    if (existsSync(CHROMIUM)) return CHROMIUM;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5_000 * attempt);
  }
  throw new Error(`could not install chromium with apt-get after ${APT_ATTEMPTS} attempts: ${(last as Error)?.message ?? "it is still missing"}`);
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: ensureChromium(),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
  });
}
