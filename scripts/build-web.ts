// Builds the web view's ES module bundle (web/app.ts → web/dist/app.js) with esbuild. The bundle is committed,
// so `npm ci && npm start` serves the page without a build step; test/web/bundle.test.ts fails when it is stale.
//   npm run build:web

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const ENTRY = fileURLToPath(new URL("../web/app.ts", import.meta.url));
export const OUTPUT = fileURLToPath(new URL("../web/dist/app.js", import.meta.url));

/** The bundle's text (deterministic for one esbuild version and one source tree). */
export async function bundleWeb(): Promise<string> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    charset: "utf8",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = await bundleWeb();
  writeFileSync(OUTPUT, text);
  console.log(`wrote ${OUTPUT} (${(text.length / 1024).toFixed(1)} KiB)`);
}
