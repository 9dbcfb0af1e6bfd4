/**
 * Every HMAC provider through the real ingest listener and store: the
 * provider's sample, signed as the provider signs it, is accepted by a source
 * of that provider with default settings and stored with the type, subject
 * and delivery id its entry names; the same request with a byte of the body
 * changed is refused as a bad signature and stores nothing. Providers that
 * sign the URL called are covered by verify-level tests (vectors.test.ts).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestIngest, type TestIngest } from "../ingester/testing.ts";
import { SCHEMES } from "../schemes/index.ts";
import type { HmacEntry } from "./engine-hmac.ts";
import { entryOf, parseJson } from "./entry.ts";

let ingest: TestIngest;
before(async () => {
  ingest = await startTestIngest();
});
after(async () => {
  await ingest?.close();
});

const providers = Object.values(SCHEMES).flatMap((scheme) => {
  const entry = entryOf(scheme);
  if (entry?.engine !== "hmac" || (entry as HmacEntry).template.includes("{url}")) return [];
  return [{ scheme, entry }];
});

async function post(sourceId: string, headers: Record<string, string>, body: Buffer) {
  const res = await fetch(`${ingest.url}/e/${sourceId}`, { method: "POST", headers, body });
  return {
    status: res.status,
    json: (await res.json()) as { id?: string; error?: { code: string; details?: { reason?: string } } },
  };
}

test("there are HMAC providers to send", () => {
  assert.ok(providers.length >= 20, String(providers.length));
});

for (const { scheme, entry } of providers) {
  test(`${entry.name}: the signed sample is stored as the provider's event; a changed body is refused`, async () => {
    const secret = scheme.generateSecret();
    const source = await ingest.source(entry.name, [secret], {
      scheme: entry.name,
      settings: scheme.settings.parse({}),
      contentTypes: entry.contentTypes,
    });
    const body = Buffer.from(scheme.provider.sample.bodyAt?.(new Date()) ?? entry.sample.body);
    const headers = {
      "content-type": entry.sample.contentType,
      ...entry.sample.headers,
      ...scheme.sign({ secret, body, now: new Date(), id: `dlv-${entry.name}` }),
    };
    const accepted = await post(source.id, headers, body);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
    assert.ok(accepted.json.id);
    const expected = scheme.describe({ headers, body, json: parseJson(body) });
    const [row] = await ingest.t.admin<{
      type: string;
      subject: string | null;
      provider_delivery_id: string | null;
    }>("SELECT type, subject, provider_delivery_id FROM events WHERE id = $1", [accepted.json.id]);
    assert.ok(row, "stored");
    assert.equal(row.type, expected.type);
    assert.notEqual(row.type, `${entry.facts.type.prefix}.event`, "the sample names its event type");
    assert.equal(row.subject, expected.subject ?? null);
    assert.equal(row.provider_delivery_id, expected.deliveryId ?? null);

    const changed = Buffer.from(body);
    changed[changed.length - 2] = changed[changed.length - 2]! ^ 0x01;
    const refused = await post(source.id, headers, changed);
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error?.code, "SIGNATURE_INVALID");
    assert.equal(refused.json.error?.details?.reason, "bad_signature");
    const count = await ingest.t.admin<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE source_id = $1",
      [source.id],
    );
    assert.equal(count[0]?.n, 1);
  });
}
