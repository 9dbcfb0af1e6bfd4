/**
 * Shared by this folder's tests: real SVIDs from the built-in CA, turned into
 * Workload API messages, and short temporary socket paths (unix socket paths
 * are limited to ~108 bytes, so they live under the OS temp dir).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../../core/index.ts";
import { CertificateAuthority } from "../ca.ts";
import type { Svid } from "../types.ts";
import type { X509SvidMessage, X509SvidResponse } from "./proto.ts";
import { svidToMessage } from "./svid.ts";

export async function testCa(trustDomain = "zenmesh.test", clock?: Clock): Promise<CertificateAuthority> {
  return CertificateAuthority.create(clock === undefined ? { trustDomain } : { trustDomain, clock });
}

export async function issue(
  ca: CertificateAuthority,
  path: string,
  ttlSeconds = 3600,
): Promise<{ svid: Svid; message: X509SvidMessage }> {
  const svid = await ca.issueSvid({ path, ttlSeconds });
  return { svid, message: svidToMessage(svid) };
}

export function response(...svids: X509SvidMessage[]): X509SvidResponse {
  return { svids, crl: [], federatedBundles: new Map() };
}

export function tempSocketDir(): { socketPath: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "zm-spire-"));
  return {
    socketPath: join(dir, "agent.sock"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
