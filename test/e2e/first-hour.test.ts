/**
 * A newcomer's first hour with real providers, through `zenmesh up` (the API,
 * the backend and the ingester as separate processes, over the mesh): a
 * source changed through the API takes effect for the very next delivery (a
 * media type added, a secret rotated), a brand-new source answers at once, Slack's url_verification is answered and
 * never becomes an event, GitHub's default form encoding is stored as its
 * JSON payload, and GitHub's Redeliver gets a 2xx with the first id.
 */
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { sign as octokitSign } from "@octokit/webhooks-methods";
import { type ApiAnswer, startZenmesh, type Zenmesh } from "../support/zenmesh-up.ts";

async function post(url: string, headers: Record<string, string>, body: string): Promise<ApiAnswer> {
  const r = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(15_000) });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, text, json };
}

describe("a newcomer's first hour, through zenmesh up", () => {
  let z: Zenmesh;

  before(async () => {
    z = await startZenmesh({ name: "first-hour" });
  });
  after(async () => {
    await z?.stop();
  });

  const create = async (body: Record<string, unknown>) => {
    const r = await z.call("POST", `/v1/projects/${z.projectId}/sources`, {
      allow_plain_http: true,
      ...body,
    });
    assert.equal(r.status, 201, r.text);
    return r.json as { id: string; ingest_url: string; secret: string; content_types: string[] };
  };

  test("a new source, and a PATCH adding a media type, decide the very next delivery", async () => {
    const body = JSON.stringify({ n: randomUUID() });
    const sw = await create({ name: "json only", scheme: "github", content_types: ["application/json"] });
    const headers = async (type: string) => ({
      "content-type": type,
      "x-github-event": "push",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": await octokitSign(sw.secret, body),
    });
    // Sent the moment the API answered: no waiting for the push to reach the ingester.
    const first = await post(sw.ingest_url, await headers("application/json"), body);
    assert.equal(first.status, 202, first.text);
    const refused = await post(sw.ingest_url, await headers("text/plain"), body);
    assert.equal(refused.status, 415, refused.text);
    const patched = await z.call("PATCH", `/v1/projects/${z.projectId}/sources/${sw.id}`, {
      content_types: ["application/json", "text/plain"],
    });
    assert.equal(patched.status, 200, patched.text);
    const next = await post(sw.ingest_url, await headers("text/plain"), JSON.stringify({ n: randomUUID() }));
    // Signed over another body than sent: the media type passed, the signature decides.
    assert.equal(next.status, 401, next.text);
    const plain = JSON.stringify({ plain: randomUUID() });
    const accepted = await post(
      sw.ingest_url,
      {
        "content-type": "text/plain",
        "x-github-event": "push",
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": await octokitSign(sw.secret, plain),
      },
      plain,
    );
    assert.equal(accepted.status, 202, accepted.text);

    // A rotation with no overlap: the new secret verifies at once, and the old one no longer.
    const rotated = await z.call("POST", `/v1/projects/${z.projectId}/sources/${sw.id}/rotate-secret`, {
      overlap_seconds: 0,
    });
    assert.equal(rotated.status, 200, rotated.text);
    const fresh = JSON.stringify({ rotated: randomUUID() });
    const signedBy = async (secret: string) => ({
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": await octokitSign(secret, fresh),
    });
    const withNew = await post(sw.ingest_url, await signedBy(rotated.json.secret), fresh);
    assert.equal(withNew.status, 202, withNew.text);
    const withOld = await post(sw.ingest_url, await signedBy(sw.secret), JSON.stringify({ old: 1 }));
    assert.equal(withOld.status, 401, withOld.text);
  });

  test("Slack's signed url_verification is answered with its challenge; unsigned, 401; neither is an event", async () => {
    const slack = await create({ name: "slack", scheme: "slack" });
    const challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    const body = JSON.stringify({ token: "Jhj5dZrVaK7ZwHHjRyZWjbDl", challenge, type: "url_verification" });
    const ts = String(Math.floor(Date.now() / 1000));
    const mac = createHmac("sha256", slack.secret).update(`v0:${ts}:${body}`).digest("hex");
    const ok = await post(
      slack.ingest_url,
      {
        "content-type": "application/json",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": `v0=${mac}`,
      },
      body,
    );
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { challenge });
    const unsigned = await post(slack.ingest_url, { "content-type": "application/json" }, body);
    assert.equal(unsigned.status, 401, unsigned.text);
    const list = await z.call("GET", `/v1/projects/${z.projectId}/events?source_id=${slack.id}`);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.data, []);
  });

  test("GitHub's default form encoding is stored as its JSON payload; Redeliver answers 202 with the first id", async () => {
    const gh = await create({ name: "github defaults", scheme: "github" });
    assert.deepEqual(gh.content_types, ["application/json", "application/x-www-form-urlencoded"]);
    const payload = JSON.stringify({ zen: "Design for failure.", hook_id: 1, n: randomUUID() });
    const form = `payload=${encodeURIComponent(payload)}`;
    const headers = {
      "content-type": "application/x-www-form-urlencoded",
      "x-github-event": "ping",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": await octokitSign(gh.secret, form),
    };
    const first = await post(gh.ingest_url, headers, form);
    assert.equal(first.status, 202, first.text);
    const redelivered = await post(gh.ingest_url, headers, form);
    assert.equal(redelivered.status, 202, redelivered.text);
    assert.deepEqual(redelivered.json, { id: first.json.id, duplicate: true });
    const event = await z.call("GET", `/v1/projects/${z.projectId}/events/${first.json.id}`);
    assert.equal(event.status, 200, event.text);
    assert.equal(event.json.event.datacontenttype, "application/json");
    assert.deepEqual(event.json.event.data, JSON.parse(payload));
    const list = await z.call("GET", `/v1/projects/${z.projectId}/events?source_id=${gh.id}`);
    assert.equal(list.json.data.length, 1);
  });
});
