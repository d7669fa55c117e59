// The committed web bundle is what `npm run build:web` makes from web/app.ts (and the page type-checks
// against the DOM), so the page served by `npm start` is never stale.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OUTPUT, bundleWeb } from "../../scripts/build-web.js";

describe("web bundle", () => {
  it("web/dist/app.js is fresh: run npm run build:web and commit it when this fails", async () => {
    const built = await bundleWeb();
    expect(readFileSync(OUTPUT, "utf8") === built, "web/dist/app.js differs from a fresh build").toBe(true);
  });

  it("web/app.ts type-checks against the DOM", () => {
    const tsc = new URL("../../node_modules/typescript/bin/tsc", import.meta.url).pathname;
    expect(() => execFileSync(process.execPath, [tsc, "-p", new URL("../../web/tsconfig.json", import.meta.url).pathname], { stdio: "pipe" })).not.toThrow();
  }, 60_000);
});
