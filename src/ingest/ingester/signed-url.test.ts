/**
 * Schemes that sign the URL they called (Twilio) verify against the source's
 * public ingest URL with the path and query received: the listener's own URL
 * by default, the configured `ingest.publicUrl` (a load balancer, a tunnel)
 * when set, never the Host header the sender chose. Large bodies take the
 * verification threads, which get the same URL.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { getScheme } from "../schemes/index.ts";
import type { SourceSnapshot } from "../types.ts";
import { startTestIngest, type TestIngest } from "./testing.ts";
import { OFFLOAD_BYTES } from "./verify-pool.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";
const FORM = "application/x-www-form-urlencoded";
const SAMPLE = Buffer.from(getScheme("twilio").provider.sample.body);

function twilioSource(ingest: TestIngest, name: string): Promise<SourceSnapshot> {
  return ingest.source(name, [TOKEN], {
    scheme: "twilio",
    settings: {},
    contentTypes: [FORM, "application/json"],
  });
}

function signedAt(url: string, body: Buffer): Record<string, string> {
  return getScheme("twilio").sign({ secret: TOKEN, body, now: new Date(), url });
}

/** A POST over node:http, which sends the Host header given (fetch would replace it). */
function post(url: string, headers: Record<string, string>, body: Buffer, host?: string) {
  return new Promise<{ status: number; json: { id?: string; error?: { code: string } } }>(
    (resolve, reject) => {
      const req = request(
        url,
        { method: "POST", headers: { ...headers, "content-type": FORM, ...(host ? { host } : {}) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    },
  );
}

describe("the URL a Twilio source verifies", () => {
  let ingest: TestIngest;
  let behind: TestIngest;
  const PUBLIC = "https://hooks.example.com";

  before(async () => {
    ingest = await startTestIngest();
    behind = await startTestIngest({ publicUrl: PUBLIC });
  });
  after(async () => {
    await ingest.close();
    await behind.close();
  });

  test("by default the listener's own URL with the path and query received", async () => {
    const source = await twilioSource(ingest, "twilio-own-url");
    const path = `/e/${source.id}?account=main`;
    const r = await post(`${ingest.url}${path}`, signedAt(`${ingest.url}${path}`, SAMPLE), SAMPLE);
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.match(r.json.id ?? "", /^evt_/);
    // The query is signed: the same signature sent without it, or with another, is refused.
    const again = signedAt(`${ingest.url}${path}`, SAMPLE);
    const lost = await post(`${ingest.url}/e/${source.id}`, again, SAMPLE);
    assert.equal(lost.status, 401);
    assert.equal(lost.json.error?.code, "SIGNATURE_INVALID");
    const other = await post(`${ingest.url}/e/${source.id}?account=other`, again, SAMPLE);
    assert.equal(other.status, 401);
  });

  test("behind a configured public URL, that URL; a signature for the listener's address is refused", async () => {
    const source = await twilioSource(behind, "twilio-public-url");
    const path = `/e/${source.id}`;
    const ok = await post(`${behind.url}${path}`, signedAt(`${PUBLIC}${path}`, SAMPLE), SAMPLE);
    assert.equal(ok.status, 202, JSON.stringify(ok.json));
    const direct = await post(`${behind.url}${path}`, signedAt(`${behind.url}${path}`, SAMPLE), SAMPLE);
    assert.equal(direct.status, 401);
  });

  test("the Host header does not choose the URL verified", async () => {
    const source = await twilioSource(behind, "twilio-host-header");
    const path = `/e/${source.id}`;
    const forged = signedAt(`http://attacker.example${path}`, SAMPLE);
    const r = await post(`${behind.url}${path}`, forged, SAMPLE, "attacker.example");
    assert.equal(r.status, 401);
    // The same request, signed for the public URL, passes whatever Host it names.
    const honest = await post(
      `${behind.url}${path}`,
      signedAt(`${PUBLIC}${path}`, SAMPLE),
      SAMPLE,
      "attacker.example",
    );
    assert.equal(honest.status, 202);
  });

  test("a body verified on a verification thread is checked against the same URL", async () => {
    const source = await twilioSource(behind, "twilio-large-body");
    const path = `/e/${source.id}?large=1`;
    const body = Buffer.from(`${SAMPLE.toString()}&Padding=${"x".repeat(OFFLOAD_BYTES)}`);
    assert.ok(body.length >= OFFLOAD_BYTES);
    const ok = await post(`${behind.url}${path}`, signedAt(`${PUBLIC}${path}`, body), body);
    assert.equal(ok.status, 202, JSON.stringify(ok.json));
    const moved = await post(`${behind.url}/e/${source.id}`, signedAt(`${PUBLIC}${path}`, body), body);
    assert.equal(moved.status, 401);
  });
});
