// The compiled build (`npm run build`): tsc emits dist/ with source maps, and plain Node runs it — no tsx, no
// TypeScript at runtime, no development dependency imported.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { totalmem } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { example, postJson } from "./server/app-harness.js";

const ROOT = new URL("..", import.meta.url).pathname;
// Inside node_modules so that the compiled files resolve their dependencies (and eslint/tsc ignore it); never
// the real dist/, which a concurrent `npm start` may be writing.
const OUT = join(ROOT, "node_modules", ".cache", `spark-scheduler-dist-${process.pid}`);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const children: ChildProcess[] = [];

beforeAll(async () => {
  await promisify(execFile)(process.execPath, [join(ROOT, "scripts/build.mjs"), OUT], {
    cwd: ROOT,
  });
}, 120_000);

afterAll(() => {
  for (const c of children) c.kill("SIGTERM");
  rmSync(OUT, { recursive: true, force: true });
});

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Runs the compiled entry point the way `npm start` and the image do; resolves once it logs that it listens. */
function startDist(args: string[]): Promise<{ url: string; logs: string[] }> {
  const child = spawn(process.execPath, ["--enable-source-maps", join(OUT, "src/main.js"), "--port", "0", ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const logs: string[] = [];
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        if (line.includes('"spark-scheduler listening"')) resolve({ url: JSON.parse(line).url, logs });
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => logs.push(chunk.toString()));
    child.on("exit", (code) => reject(new Error(`dist/src/main.js exited with ${code}: ${logs.join("\n")}`)));
  });
}

describe("compiled build", () => {
  it("emits JavaScript with a source map for every module of src/ and gen/", () => {
    const emitted = files(OUT);
    const js = emitted.filter((f) => f.endsWith(".js") && !f.startsWith(join(OUT, "web/")));
    expect(js).toContain(join(OUT, "src/main.js"));
    expect(js.some((f) => f.startsWith(join(OUT, "gen/")))).toBe(true);
    for (const f of js) expect(emitted).toContain(`${f}.map`);
    expect(emitted.some((f) => f.endsWith(".ts"))).toBe(false);
  });

  it("imports only Node built-ins and production dependencies", () => {
    const allowed = new Set(Object.keys(pkg.dependencies));
    const bare = new Set<string>();
    for (const f of files(OUT).filter((x) => x.endsWith(".js"))) {
      for (const m of readFileSync(f, "utf8").matchAll(/(?:^|\s)(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm)) {
        const spec = m[1] ?? m[2];
        if (spec.startsWith(".")) continue;
        const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
        bare.add(name);
      }
    }
    const notAllowed = [...bare].filter((n) => !n.startsWith("node:") && !builtinModules.includes(n) && !allowed.has(n));
    expect(bare.size).toBeGreaterThan(3);
    expect(notAllowed).toEqual([]);
    expect(pkg.dependencies.tsx).toBeUndefined();
  });

  it("npm start and the image run the compiled entry point with source maps", () => {
    expect(pkg.scripts.start).toMatch(/node --enable-source-maps dist\/src\/main\.js$/);
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    expect(dockerfile).toContain('ENTRYPOINT ["node", "--enable-source-maps", "dist/src/main.js"]');
    expect(existsSync(join(ROOT, "tsconfig.build.json"))).toBe(true);
  });

  it("the image caps V8's old space at half the memory limit and the semi-space at 2 MB, with flags this Node accepts in NODE_OPTIONS", async () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const nodeOptions = /^ENV NODE_OPTIONS="([^"]+)"$/m.exec(dockerfile)?.[1];
    expect(nodeOptions).toBe("--max-old-space-size-percentage=50 --max-semi-space-size=2");
    const { stdout } = await promisify(execFile)(process.execPath, ["-e", "console.log(require('v8').getHeapStatistics().heap_size_limit)"], {
      env: { ...process.env, NODE_OPTIONS: nodeOptions },
    });
    // Of the cgroup limit when there is one, else of the machine's memory; the young generation comes on top.
    const available = Math.min(process.constrainedMemory() || Infinity, totalmem());
    expect(Number(stdout) / available).toBeGreaterThan(0.45);
    expect(Number(stdout) / available).toBeLessThan(0.6);
    // The semi-space flag takes effect: the young generation's share of the limit shrinks (from ~190 MB).
    const capOnly = await promisify(execFile)(process.execPath, ["-e", "console.log(require('v8').getHeapStatistics().heap_size_limit)"], {
      env: { ...process.env, NODE_OPTIONS: "--max-old-space-size-percentage=50" },
    });
    expect(Number(capOnly.stdout) - Number(stdout)).toBeGreaterThan(100 * 2 ** 20);
  });

  it("serves: node dist/src/main.js on the embedded cluster answers /healthz and /predicates", async () => {
    const { url } = await startDist(["--embedded-cluster", "examples/cluster.yaml"]);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const res = await postJson(`${url}/predicates`, example("driver-etl"));
    expect(res.status).toBe(200);
    expect(res.json.NodeNames).toHaveLength(1);
    const ui = await fetch(`${url}/ui/app.js`);
    expect(ui.status).toBe(200);
    expect((await ui.text()).length).toBeGreaterThan(1000);
  });
});
