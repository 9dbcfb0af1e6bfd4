/**
 * Correlation IDs: taken from `X-Correlation-ID` when it is well formed, else
 * from a W3C `traceparent` trace id, else generated. The value is echoed in
 * responses, logs and audit entries, so anything odd is replaced, not escaped.
 */
import { newId } from "./ids.ts";

const SAFE = /^[A-Za-z0-9._:-]{8,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function correlationIdFrom(headers: Record<string, string | string[] | undefined>): string {
  const given = headers["x-correlation-id"];
  if (typeof given === "string" && SAFE.test(given)) return given;
  const tp = headers.traceparent;
  if (typeof tp === "string") {
    const m = TRACEPARENT.exec(tp.trim());
    if (m && !/^0+$/.test(m[1]!)) return m[1]!;
  }
  return newId("correlation");
}
