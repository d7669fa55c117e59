// The live web view (GET /ui): a static page and its ES module bundle (web/index.html, web/dist/app.js, built
// from web/app.ts by `npm run build:web`). The page talks to the service on the same origin over the Connect
// protocol, so it needs no other server. Files are read once and kept in memory.

import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import type { FallbackHandler } from "./listen.js";

type Req = Parameters<FallbackHandler>[0];
type Res = Parameters<FallbackHandler>[1];

const FILES: Record<string, { file: string; type: string }> = {
  "/ui": { file: "index.html", type: "text/html; charset=utf-8" },
  "/ui/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/ui/app.js": { file: "dist/app.js", type: "text/javascript; charset=utf-8" },
};

const cache = new Map<string, Buffer>();

function load(file: string): Buffer {
  let b = cache.get(file);
  if (!b) {
    b = readFileSync(new URL(`../../web/${file}`, import.meta.url));
    cache.set(file, b);
  }
  return b;
}

export function isWebPath(path: string): boolean {
  return path === "/ui" || path.startsWith("/ui/");
}

export function handleWeb(req: Req, res: Res, path: string): void {
  const entry = FILES[path];
  const send = (status: number, type: string, body: string | Buffer) => {
    (res as ServerResponse).writeHead(status, {
      "content-type": type,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      // Scripts only from this origin; the page makes Connect calls back to it.
      "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    });
    if (req.method === "HEAD") res.end();
    else res.end(body);
  };
  if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain; charset=utf-8", "use GET\n");
  if (!entry) return send(404, "text/plain; charset=utf-8", `no page ${path}\n`);
  send(200, entry.type, load(entry.file));
}
