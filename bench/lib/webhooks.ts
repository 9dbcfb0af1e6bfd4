/**
 * GitHub-style signed webhooks for the load generator: every request gets a
 * body of exactly the asked size that no other request shares, a fresh
 * `X-GitHub-Delivery` and its own `X-Hub-Signature-256`, so zenmesh sees
 * neither a replay nor a duplicate.
 */
import { createHmac, randomUUID } from "node:crypto";
import type { LoadRequest } from "./load.ts";

export const KiB = 1024;

let pad = "";

/** A JSON body of exactly `size` bytes, unique through `n` and a random UUID. */
export function body(size: number, n: number): string {
  const head = `{"ref":"refs/heads/main","n":${n},"delivery":"${randomUUID()}","repository":{"full_name":"acme/api"},"pad":"`;
  const tail = `"}`;
  const need = size - head.length - tail.length;
  if (need < 0) throw new Error(`a body of ${size} bytes is too small`);
  if (pad.length < need) pad = "x".repeat(Math.max(need, 256 * KiB));
  return head + pad.slice(0, need) + tail;
}

export function githubSignature(secret: string, payload: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(payload).digest("hex")}`;
}

export interface Target {
  /** Path on the ingest origin, e.g. /e/src_… */
  path: string;
  secret: string;
}

/** Builds request `n` for one of the targets (round-robin, so load spreads evenly). */
export function githubRequests(targets: Target[], size: number): (n: number) => LoadRequest {
  if (targets.length === 0) throw new Error("no targets");
  return (n) => {
    const t = targets[n % targets.length]!;
    const b = body(size, n);
    return {
      path: t.path,
      body: b,
      headers: {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/bench",
        "x-github-event": "push",
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": githubSignature(t.secret, b),
      },
    };
  };
}
