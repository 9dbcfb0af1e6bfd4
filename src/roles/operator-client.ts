/**
 * The CLI's way into a running system: mTLS to the backend's internal API
 * as `spiffe://<td>/operator`, with the credentials the supervisor keeps in
 * `<data-dir>/operator/` (0600). Whoever can read them can already read the
 * master key beside them; nobody else can act as the operator.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { OperatorRequest } from "../cli/operations.ts";
import { ERROR_CODES, type ErrorCode, ZenError } from "../core/index.ts";
import { chainValidity } from "../identity/index.ts";
import { createInternalClient } from "../mesh/index.ts";
import { createPushedIdentity } from "./pushed-identity.ts";
import { meshPath, operatorDir } from "./up.ts";

export async function callOperator(dataDir: string, op: OperatorRequest): Promise<unknown> {
  let mesh: { trustDomain: string; internal: { backend?: string } };
  let certChainPem: string;
  let keyPem: string;
  let bundlePem: string;
  try {
    mesh = JSON.parse(readFileSync(meshPath(dataDir), "utf8"));
    const dir = operatorDir(dataDir);
    certChainPem = readFileSync(join(dir, "svid.pem"), "utf8");
    keyPem = readFileSync(join(dir, "key.pem"), "utf8");
    bundlePem = readFileSync(join(dir, "bundle.pem"), "utf8");
  } catch (err) {
    throw new ZenError("UNAVAILABLE", {
      message: "the running system's operator credentials are unreadable",
      cause: err,
    });
  }
  const backend = mesh.internal.backend;
  if (!backend) throw new ZenError("UNAVAILABLE", { message: "the running system has no backend" });
  const identity = createPushedIdentity({
    spiffeId: `spiffe://${mesh.trustDomain}/operator`,
    certChainPem,
    keyPem,
    bundlePem,
    ...chainValidity(certChainPem),
  });
  const client = createInternalClient({
    identity,
    trustDomain: mesh.trustDomain,
    baseUrl: backend,
    expectServer: `spiffe://${mesh.trustDomain}/backend`,
    timeoutMs: 30_000,
  });
  try {
    const r = await client.request("POST", "/internal/operator", op);
    const body = r.json<{ error?: { code?: string; message?: string } }>();
    if (r.status >= 400) {
      const e = body.error;
      const code: ErrorCode =
        e?.code !== undefined && e.code in ERROR_CODES ? (e.code as ErrorCode) : "INTERNAL";
      throw new ZenError(code, e?.message === undefined ? {} : { message: e.message });
    }
    return body;
  } finally {
    await client.close();
  }
}
