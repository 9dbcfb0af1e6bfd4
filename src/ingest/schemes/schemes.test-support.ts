/** Test helpers for the scheme suites: one place that builds a VerifyInput. */
import type { SchemeName, VerifyInput, VerifyResult } from "../types.ts";
import { SCHEMES } from "./index.ts";

export const NOW = new Date("2026-03-01T12:00:00.000Z");
export const NOW_UNIX = Math.floor(NOW.getTime() / 1000);

export function check(
  name: SchemeName,
  input: Partial<VerifyInput> & Pick<VerifyInput, "headers" | "secrets">,
): VerifyResult {
  return SCHEMES[name].verify({
    body: Buffer.alloc(0),
    settings: {},
    now: NOW,
    toleranceSeconds: 300,
    ...input,
  });
}

export const reason = (r: VerifyResult): string => (r.ok ? "ok" : r.reason);
