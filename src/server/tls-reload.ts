// Serving certificates rotate (cert-manager renews them well before they expire, and the kubelet swaps the
// mounted Secret's files in place), so the files given by `tls.cert-file` / `tls.key-file` are watched and the
// server's credentials replaced when they change: new connections get the new pair, open ones keep theirs.
//
// The directories are watched (a Secret volume swaps a `..data` symlink, which changes no watched file itself),
// with a periodic re-read as the fallback for filesystems whose events get lost. A change is applied only once
// the two files form a valid pair: a key written before its certificate leaves the old pair in use until the
// certificate follows. The client CA bundle (`tls.client-ca-file`, mTLS) is watched and applied the same way: a
// rotated CA verifies the client certificates of new connections (open ones stay verified as they were).

import { type FSWatcher, readFileSync, watch } from "node:fs";
import { X509Certificate } from "node:crypto";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { parseCaBundle } from "./listen.js";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** The client CA bundle, when client certificates are verified. */
  clientCaFile?: string;
}

/** What the files hold: the pair, and the client CA bundle when one is configured. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
}

export interface TlsReloaderOptions extends TlsFiles {
  /** Installs the credentials; throws when they are not valid (RunningServer.setCredentials). */
  apply: (cred: TlsCredentials) => void;
  log: Logger;
  /** What the server started with (so unchanged files are not applied again). */
  initial?: TlsCredentials;
  /** Re-read interval when no file event arrives. Default 60 s. */
  pollMs?: number;
  /** Wait after a file event before reading, so both files of one update are read together. Default 200 ms. */
  settleMs?: number;
}

export class TlsReloader {
  private current?: TlsCredentials;
  private readonly watchers: FSWatcher[] = [];
  private poll?: NodeJS.Timeout;
  private settle?: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(private readonly opts: TlsReloaderOptions) {
    this.current = opts.initial;
    this.log = opts.log.child({ component: "tls-reload" });
  }

  start(): void {
    const files = [this.opts.certFile, this.opts.keyFile, ...(this.opts.clientCaFile ? [this.opts.clientCaFile] : [])];
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      try {
        const w = watch(dir, () => this.schedule());
        w.on("error", (err) => this.log.warn({ err, dir }, "cannot watch the TLS directory; re-reading periodically"));
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ err, dir }, "cannot watch the TLS directory; re-reading periodically");
      }
    }
    this.poll = setInterval(() => this.check(), this.opts.pollMs ?? 60_000);
    this.poll.unref();
  }

  stop(): void {
    for (const w of this.watchers.splice(0)) w.close();
    clearInterval(this.poll);
    clearTimeout(this.settle);
  }

  private schedule(): void {
    clearTimeout(this.settle);
    this.settle = setTimeout(() => this.check(), this.opts.settleMs ?? 200);
    this.settle.unref();
  }

  /** Reads the files and applies them when they changed and are valid; returns whether it applied them. */
  check(): boolean {
    let next: TlsCredentials;
    try {
      next = { cert: readFileSync(this.opts.certFile), key: readFileSync(this.opts.keyFile) };
      if (this.opts.clientCaFile) next.clientCa = readFileSync(this.opts.clientCaFile);
    } catch (err) {
      this.log.warn({ err }, "cannot read the TLS files; keeping the current certificate");
      return false;
    }
    const cur = this.current;
    const same = (a?: Buffer, b?: Buffer) => (a === undefined ? b === undefined : b !== undefined && a.equals(b));
    if (cur && same(cur.cert, next.cert) && same(cur.key, next.key) && same(cur.clientCa, next.clientCa)) return false;
    try {
      this.opts.apply(next);
    } catch (err) {
      // Usually half of an update (a key without its certificate yet); the next event or poll retries.
      this.log.warn({ err }, "the TLS files do not form a valid pair, or the client CA bundle is not valid; keeping the current ones");
      return false;
    }
    this.current = next;
    if (next.clientCa && !same(cur?.clientCa, next.clientCa)) this.logClientCa(next.clientCa);
    if (cur && same(cur.cert, next.cert) && same(cur.key, next.key)) return true;
    let detail: Record<string, string> = {};
    try {
      const x = new X509Certificate(next.cert);
      detail = { subject: x.subject, validTo: x.validTo, fingerprint256: x.fingerprint256 };
    } catch {
      /* applied, so valid; the details are only for the log */
    }
    this.log.info({ certificate: detail }, "TLS certificate reloaded");
    return true;
  }

  private logClientCa(pem: Buffer): void {
    let cas: Record<string, string>[] = [];
    try {
      cas = parseCaBundle(pem).map((x) => ({ subject: x.subject, validTo: x.validTo, fingerprint256: x.fingerprint256 }));
    } catch {
      /* applied, so valid; the details are only for the log */
    }
    this.log.info({ clientCas: cas }, "client CA bundle reloaded");
  }
}
