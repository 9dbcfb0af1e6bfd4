/**
 * An identity read from PEM files (certificate chain, key, trust bundle), as
 * cert-manager or a sidecar writes them. The files are re-read when they
 * change, and a changed SVID is pushed to listeners for hot swap. Refuses a
 * key file readable by group or others.
 */
import { readFileSync, statSync } from "node:fs";
import { ZenError } from "../core/index.ts";
import { svidFromPem } from "../identity/index.ts";
import type { IdentitySource, Svid } from "../identity/types.ts";
import { createPushedIdentity } from "./pushed-identity.ts";

export interface FileIdentityOptions {
  certFile: string;
  keyFile: string;
  bundleFile: string;
  trustDomain: string;
  pollMs?: number;
}

function read(opts: FileIdentityOptions): Svid {
  const mode = statSync(opts.keyFile).mode;
  if ((mode & 0o077) !== 0) {
    throw new ZenError("CONFIG_INSECURE", {
      message: `ZENMESH_MESH_KEY_FILE (mesh.keyFile): ${opts.keyFile} is readable by group or others (mode ${(mode & 0o777).toString(8)}); use 0600 or 0400`,
    });
  }
  const r = svidFromPem(
    {
      certChainPem: readFileSync(opts.certFile, "utf8"),
      keyPem: readFileSync(opts.keyFile, "utf8"),
      bundlePem: readFileSync(opts.bundleFile, "utf8"),
    },
    opts.trustDomain,
    new Date(),
  );
  if (!r.ok) {
    throw new ZenError("CONFIG_INVALID", {
      message: `ZENMESH_MESH_CERT_FILE (mesh.certFile): not a valid SVID for ${opts.trustDomain} (${r.reason})`,
    });
  }
  return r.value;
}

export function createFileIdentity(opts: FileIdentityOptions): IdentitySource {
  const pushed = createPushedIdentity(read(opts));
  const stamp = () =>
    [opts.certFile, opts.keyFile, opts.bundleFile].map((f) => statSync(f).mtimeMs).join(":");
  let last = stamp();
  const timer = setInterval(() => {
    try {
      const now = stamp();
      if (now === last) return;
      pushed.push(read(opts));
      last = now;
    } catch {
      // A half-written rotation is read again on the next tick; the current SVID stays in use.
    }
  }, opts.pollMs ?? 10_000);
  timer.unref();
  return {
    ...pushed,
    async close() {
      clearInterval(timer);
      await pushed.close();
    },
  };
}
