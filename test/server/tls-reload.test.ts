// Certificate rotation: the served certificate follows the files (an atomic Secret-volume style swap and plain
// rewrites), new connections get the new pair, and a half-written or broken pair keeps the old one in use.

import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type RunningServer, startServer } from "../../src/server/listen.js";
import { TlsReloader } from "../../src/server/tls-reload.js";

const pair = (name: string) => ({
  cert: readFileSync(new URL(`../support/tls/${name === "first" ? "cert" : "rotated-cert"}.pem`, import.meta.url)),
  key: readFileSync(new URL(`../support/tls/${name === "first" ? "key" : "rotated-key"}.pem`, import.meta.url)),
});
const first = pair("first");
const rotated = pair("rotated");

/** The CN of the certificate the server presents to a new connection. */
function servedCn(server: RunningServer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: "127.0.0.1", port: server.port, servername: "localhost", rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] }, () => {
      const cn = sock.getPeerCertificate().subject.CN;
      sock.end();
      resolve(String(cn));
    });
    sock.on("error", reject);
  });
}

let dir: string;
let server: RunningServer;
let reloader: TlsReloader | undefined;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "tls-reload-"));
  server = await startServer({ host: "127.0.0.1", tls: first, routes: () => {} });
});
afterEach(async () => {
  reloader?.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("TLS certificate reload", () => {
  it("follows a Secret volume's atomic ..data swap", async () => {
    // The kubelet's layout: tls.crt -> ..data/tls.crt, ..data -> a timestamped directory, swapped by a rename.
    const lay = (name: string, p: { cert: Buffer; key: Buffer }) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, "tls.crt"), p.cert);
      writeFileSync(join(dir, name, "tls.key"), p.key);
    };
    lay("..2026_v1", first);
    lay("..2026_v2", rotated);
    symlinkSync("..2026_v1", join(dir, "..data"));
    symlinkSync("..data/tls.crt", join(dir, "tls.crt"));
    symlinkSync("..data/tls.key", join(dir, "tls.key"));
    reloader = new TlsReloader({
      certFile: join(dir, "tls.crt"),
      keyFile: join(dir, "tls.key"),
      initial: first,
      apply: (c) => server.setCredentials(c),
      log: pino({ level: "silent" }),
      settleMs: 10,
    });
    reloader.start();
    expect(await servedCn(server)).toBe("spark-scheduler-test");
    symlinkSync("..2026_v2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    await vi.waitFor(async () => expect(await servedCn(server)).toBe("spark-scheduler-test-rotated"), { timeout: 10_000, interval: 50 });
  });

  it("waits for a valid pair: a key without its certificate, or garbage, keeps the old certificate", async () => {
    const certFile = join(dir, "tls.crt");
    const keyFile = join(dir, "tls.key");
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    reloader = new TlsReloader({ certFile, keyFile, initial: first, apply: (c) => server.setCredentials(c), log: pino({ level: "silent" }) });
    expect(reloader.check()).toBe(false); // unchanged
    writeFileSync(keyFile, rotated.key);
    expect(reloader.check()).toBe(false); // mismatched pair
    expect(await servedCn(server)).toBe("spark-scheduler-test");
    writeFileSync(certFile, "not a certificate");
    expect(reloader.check()).toBe(false);
    rmSync(certFile);
    expect(reloader.check()).toBe(false); // missing
    expect(await servedCn(server)).toBe("spark-scheduler-test");
    writeFileSync(certFile, rotated.cert);
    expect(reloader.check()).toBe(true);
    expect(await servedCn(server)).toBe("spark-scheduler-test-rotated");
  });

  it("a plain rewrite of the files is seen through the directory watch", async () => {
    const certFile = join(dir, "tls.crt");
    const keyFile = join(dir, "tls.key");
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    reloader = new TlsReloader({ certFile, keyFile, initial: first, apply: (c) => server.setCredentials(c), log: pino({ level: "silent" }), settleMs: 10 });
    reloader.start();
    writeFileSync(keyFile, rotated.key);
    writeFileSync(certFile, rotated.cert);
    await vi.waitFor(async () => expect(await servedCn(server)).toBe("spark-scheduler-test-rotated"), { timeout: 10_000, interval: 50 });
  });
});
