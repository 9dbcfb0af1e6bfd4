import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";
import { SCHEMES } from "./index.ts";
import { check, NOW_UNIX, reason } from "./schemes.test-support.ts";

const SECRET = SCHEMES.zenmesh.generateSecret();
const BODY = Buffer.from('{"order":42}');

/** The documented construction, written out independently of the scheme's code. */
function mac(t: number, n: string, body = BODY, secret = SECRET): string {
  const hash = createHash("sha256").update(body).digest("hex");
  return createHmac("sha256", secret).update(`zenmesh-v1.${t}.${n}.${hash}`).digest("base64url");
}
const nonce = () => randomBytes(16).toString("base64url");
const verify = (header: string, extra: Record<string, string> = {}) =>
  check("zenmesh", { headers: { "x-zen-signature": header, ...extra }, secrets: [SECRET], body: BODY });

test("a request signed as documented verifies; the nonce is the delivery id", () => {
  const n = nonce();
  const r = verify(`t=${NOW_UNIX},n=${n},v1=${mac(NOW_UNIX, n)}`);
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.deliveryId, n);
  assert.equal(r.value.signature, mac(NOW_UNIX, n));
});

test("the nonce and timestamp are signed: changing either fails", () => {
  const n = nonce();
  assert.equal(reason(verify(`t=${NOW_UNIX},n=${nonce()},v1=${mac(NOW_UNIX, n)}`)), "bad_signature");
  assert.equal(reason(verify(`t=${NOW_UNIX - 1},n=${n},v1=${mac(NOW_UNIX, n)}`)), "bad_signature");
});

test("several v1 entries may be sent while rolling a secret; other v<n> entries are skipped", () => {
  const n = nonce();
  const r = verify(
    `t=${NOW_UNIX},n=${n},v2=future,v1=${mac(NOW_UNIX, n, BODY, "zmsec_old")},v1=${mac(NOW_UNIX, n)}`,
  );
  assert.ok(r.ok, reason(r));
});

test("a short nonce, a missing nonce, an unknown key or a padded MAC is malformed", () => {
  const n = nonce();
  const m = mac(NOW_UNIX, n);
  for (const header of [
    `t=${NOW_UNIX},n=short,v1=${mac(NOW_UNIX, "short")}`,
    `t=${NOW_UNIX},v1=${m}`,
    `t=${NOW_UNIX},n=${n},k=key,v1=${m}`,
    `t=${NOW_UNIX},n=${n},n=${n},v1=${m}`,
    `t=${NOW_UNIX},n=${n},v1=${m}=`,
    `t=${NOW_UNIX},n=${n}`,
  ]) {
    assert.equal(reason(verify(header)), "malformed_signature", header);
  }
});

test("describe: X-Zen-Event-Type as the type, the nonce and signed time", () => {
  const headers = SCHEMES.zenmesh.sign({
    secret: SECRET,
    body: BODY,
    now: new Date(NOW_UNIX * 1000),
    id: "n".repeat(22),
  });
  const facts = SCHEMES.zenmesh.describe({
    headers: { ...headers, "x-zen-event-type": "com.acme.order.created" },
    body: BODY,
    json: {},
  });
  assert.deepEqual(facts, {
    type: "com.acme.order.created",
    deliveryId: "n".repeat(22),
    time: new Date(NOW_UNIX * 1000),
  });
  assert.equal(SCHEMES.zenmesh.describe({ headers: {}, body: BODY, json: {} }).type, "com.zenmesh.event");
});

test("generated secrets are zmsec_ and 32 random bytes", () => {
  assert.match(SECRET, /^zmsec_[A-Za-z0-9_-]{43}$/);
});
