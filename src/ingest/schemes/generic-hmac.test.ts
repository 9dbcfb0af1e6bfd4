import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { genericHmacSettings, SCHEMES } from "./index.ts";
import { check, NOW_UNIX, reason } from "./schemes.test-support.ts";

const SECRET = "generic-secret-0123456789";
const BODY = Buffer.from('{"hello":"world"}');
const hmac = (alg: string, data: string, enc: "hex" | "base64") =>
  createHmac(alg, SECRET).update(data).digest(enc);

const verify = (settings: Record<string, unknown>, headers: Record<string, string>) =>
  check("generic-hmac", { headers, secrets: [SECRET], body: BODY, settings });

test("settings: defaults, lower-cased header names", () => {
  const r = genericHmacSettings.safeParse({ header: "X-Signature" });
  assert.ok(r.success);
  assert.deepEqual(r.data, { header: "x-signature", algorithm: "sha256", encoding: "hex" });
});

test("settings: refuses bad header names, hop-by-hop headers, bad templates and unknown keys", () => {
  for (const bad of [
    {},
    { header: "" },
    { header: "x sig" },
    { header: "x-sig:" },
    { header: "Connection" },
    { header: "transfer-encoding" },
    { header: "host" },
    { header: "x-sig", algorithm: "md5" },
    { header: "x-sig", encoding: "base32" },
    { header: "x-sig", template: "{timestamp}.{body}" },
    { header: "x-sig", timestampHeader: "x-ts", template: "{body}" },
    { header: "x-sig", template: "{body}{body}" },
    { header: "x-sig", template: "nobody" },
    { header: "x-sig", template: "{id}.{body}" },
    { header: "x-sig", template: "{nonce}.{body}" },
    { header: "x-sig", template: "{body" },
    { header: "x-sig", template: "a\n{body}" },
    { header: "x-sig", timestampHeader: "x-sig" },
    { header: "x-sig", prefix: " sha256=" },
    { header: "x-sig", extra: true },
  ]) {
    assert.equal(genericHmacSettings.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test("hex with a prefix, as GitHub-like providers send", () => {
  const settings = { header: "x-hook-signature", prefix: "sha256=" };
  const sig = `sha256=${hmac("sha256", BODY.toString(), "hex")}`;
  const r = verify(settings, { "x-hook-signature": sig });
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.signature, sig);
  assert.equal(
    reason(verify(settings, { "x-hook-signature": sig.slice("sha256=".length) })),
    "malformed_signature",
  );
});

test("base64 SHA-512 over the body", () => {
  const settings = { header: "x-sig", algorithm: "sha512", encoding: "base64" };
  const sig = hmac("sha512", BODY.toString(), "base64");
  assert.ok(verify(settings, { "x-sig": sig }).ok);
  assert.equal(
    reason(verify(settings, { "x-sig": hmac("sha256", BODY.toString(), "base64") })),
    "malformed_signature",
  );
});

test("a timestamp header signs {timestamp}.{body} by default and is held to the tolerance", () => {
  const settings = { header: "x-sig", timestampHeader: "x-ts" };
  const at = (t: number) => ({
    "x-sig": hmac("sha256", `${t}.${BODY.toString()}`, "hex"),
    "x-ts": String(t),
  });
  const r = verify(settings, at(NOW_UNIX));
  assert.ok(r.ok, reason(r));
  assert.deepEqual(r.value.timestamp, new Date(NOW_UNIX * 1000));
  assert.equal(reason(verify(settings, at(NOW_UNIX - 301))), "stale");
  assert.equal(reason(verify(settings, at(NOW_UNIX + 301))), "future");
  assert.equal(reason(verify(settings, { "x-sig": at(NOW_UNIX)["x-sig"] })), "missing_timestamp");
});

test("a custom template with literal text, {id} and {timestamp}", () => {
  const settings = {
    header: "x-sig",
    timestampHeader: "x-ts",
    idHeader: "x-id",
    template: "v1:{id}:{timestamp}:{body}",
  };
  const sig = hmac("sha256", `v1:dlv-7:${NOW_UNIX}:${BODY.toString()}`, "hex");
  const r = verify(settings, { "x-sig": sig, "x-ts": String(NOW_UNIX), "x-id": "dlv-7" });
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.deliveryId, "dlv-7");
  assert.equal(
    reason(verify(settings, { "x-sig": sig, "x-ts": String(NOW_UNIX), "x-id": "dlv-8" })),
    "bad_signature",
  );
  assert.equal(reason(verify(settings, { "x-sig": sig, "x-ts": String(NOW_UNIX) })), "malformed_signature");
});

test("settings that never validated are a bug: verify throws rather than guessing", () => {
  assert.throws(() => verify({ header: "Connection" }, {}));
  assert.throws(() => verify({}, {}));
});

test("describe: the type header as the type, else com.zenmesh.generic; never throws on bad settings", () => {
  const settings = { header: "x-sig", typeHeader: "x-event", idHeader: "x-id" };
  const headers = { "x-event": "order.created", "x-id": "d-1" };
  assert.deepEqual(SCHEMES["generic-hmac"].describe({ headers, body: BODY, json: {}, settings }), {
    type: "order.created",
    deliveryId: "d-1",
  });
  assert.equal(
    SCHEMES["generic-hmac"].describe({ headers, body: BODY, json: {} }).type,
    "com.zenmesh.generic",
  );
  const bad = { header: "Connection" };
  assert.equal(
    SCHEMES["generic-hmac"].describe({ headers, body: BODY, json: {}, settings: bad }).type,
    "com.zenmesh.generic",
  );
});
