// Serving certificates rotate (cert-manager renews them well before they expire, and the kubelet swaps the
// mounted Secret's files in place), so the files given by `tls.cert-file` / `tls.key-file` are watched and the
// server's credentials replaced when they change: new connections get the new pair, open ones keep theirs.
//
// The directories are watched (a Secret volume swaps a `..data` symlink, which changes no watched file itself),
// with a periodic re-read as the fallback for filesystems whose events get lost. A change is applied only once
// the two files form a valid pair: a key written before its certificate leaves the old pair in use until the
// certificate follows.

import { type FSWatcher, readFileSync, watch } from "node:fs";
import { X509Certificate } from "node:crypto";
import { dirname } from "node:path";
import type { Logger } from "pino";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsReloaderOptions extends TlsFiles {
  /** Installs a pair; throws when it is not valid (RunningServer.setCredentials). */
  apply: (cred: { cert: Buffer; key: Buffer }) => void;
  log: Logger;
  /** The pair the server started with (so an unchanged pair is not applied again). */
  initial?: { cert: Buffer; key: Buffer };
  /** Re-read interval when no file event arrives. Default 60 s. */
  pollMs?: number;
  /** Wait after a file event before reading, so both files of one update are read together. Default 200 ms. */
  settleMs?: number;
}

export class TlsReloader {
  private current?: { cert: Buffer; key: Buffer };
  private readonly watchers: FSWatcher[] = [];
  private poll?: NodeJS.Timeout;
  private settle?: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(private readonly opts: TlsReloaderOptions) {
    this.current = opts.initial;
    this.log = opts.log.child({ component: "tls-reload" });
  }

  start(): void {
    for (const dir of new Set([dirname(this.opts.certFile), dirname(this.opts.keyFile)])) {
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

  /** Reads the files and applies them when they changed and form a valid pair; returns whether it applied them. */
  check(): boolean {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(this.opts.certFile);
      key = readFileSync(this.opts.keyFile);
    } catch (err) {
      this.log.warn({ err }, "cannot read the TLS files; keeping the current certificate");
      return false;
    }
    if (this.current && this.current.cert.equals(cert) && this.current.key.equals(key)) return false;
    try {
      this.opts.apply({ cert, key });
    } catch (err) {
      // Usually half of an update (a key without its certificate yet); the next event or poll retries.
      this.log.warn({ err }, "the TLS files do not form a valid pair; keeping the current certificate");
      return false;
    }
    this.current = { cert, key };
    let detail: Record<string, string> = {};
    try {
      const x = new X509Certificate(cert);
      detail = { subject: x.subject, validTo: x.validTo, fingerprint256: x.fingerprint256 };
    } catch {
      /* applied, so valid; the details are only for the log */
    }
    this.log.info({ certificate: detail }, "TLS certificate reloaded");
    return true;
  }
}
