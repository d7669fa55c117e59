// Throwaway certificate authorities and client certificates for the mTLS tests, made with the machine's openssl
// (P-256 keys, valid for a day), in a temporary directory.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Issued {
  cert: Buffer;
  key: Buffer;
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

export class TestCa {
  private serial = 1;

  private constructor(
    private readonly dir: string,
    readonly name: string,
    readonly cert: Buffer,
  ) {}

  /** A self-signed CA with this common name. */
  static create(name: string): TestCa {
    const dir = mkdtempSync(join(tmpdir(), "test-ca-"));
    openssl(
      ["req", "-x509", ...KEY, "-keyout", "ca.key", "-out", "ca.crt", "-subj", `/CN=${name}`, "-days", "1",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
      dir,
    );
    return new TestCa(dir, name, readFileSync(join(dir, "ca.crt")));
  }

  /** A client certificate (extended key usage clientAuth) for an OpenSSL subject such as `/O=team/CN=alice`. */
  issue(subject: string): Issued {
    const n = this.serial++;
    writeFileSync(join(this.dir, "client.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
    openssl(["req", "-new", ...KEY, "-keyout", `${n}.key`, "-out", `${n}.csr`, "-subj", subject], this.dir);
    openssl(
      ["x509", "-req", "-in", `${n}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", String(1000 + n), "-days", "1",
        "-extfile", "client.ext", "-out", `${n}.crt`],
      this.dir,
    );
    return { cert: readFileSync(join(this.dir, `${n}.crt`)), key: readFileSync(join(this.dir, `${n}.key`)) };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
