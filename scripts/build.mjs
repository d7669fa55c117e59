// `npm run build`: compile src/ and gen/ with tsc (tsconfig.build.json) into the output directory (default
// dist/) and copy the web view's static files beside them (src/server/web-route.ts reads ../../web/ relative to
// its compiled module). Usage: node scripts/build.mjs [outDir]
import { execFileSync } from "node:child_process";
import process from "node:process";
import { cpSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(root, process.argv[2] ?? "dist");
rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", out], {
  cwd: root,
  stdio: "inherit",
});
for (const f of ["index.html", "dist/app.js"]) cpSync(join(root, "web", f), join(out, "web", f));
