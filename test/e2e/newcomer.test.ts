/**
 * A newcomer's first hour, through a real `zenmesh up`: the banner names the
 * database; `zenmesh status` lists every role; mistyped flags and unknown
 * tenants are refused; a test send (API and CLI) goes through the real
 * ingest path and reaches a subscribed receiver that verifies it with the
 * `standardwebhooks` package; and the README's receiver snippet verifies a
 * real delivery.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { verifyZenmeshWebhook } from "../examples/verify-zenmesh-webhook.ts";
import { startVerifyingReceiver, type VerifyingReceiver } from "../support/verifying-receiver.ts";
import { BIN, startZenmesh, until, type Zenmesh } from "../support/zenmesh-up.ts";

const README = resolve(import.meta.dirname, "..", "..", "README.md");
const EXAMPLE = resolve(import.meta.dirname, "..", "examples", "verify-zenmesh-webhook.ts");

interface Raw {
  headers: Record<string, string>;
  body: string;
}

function flat(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

describe("a newcomer's first hour on zenmesh up", () => {
  let z: Zenmesh;
  let rx: VerifyingReceiver;
  let raw: Server;
  let rawUrl: string;
  const rawArrivals: Raw[] = [];

  const cli = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [BIN, ...args, "--data-dir", z.dir], {
      encoding: "utf8",
      env: { ...z.env, ...env },
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  const subscribe = async (url: string) => {
    const d = await z.call("POST", `/v1/projects/${z.projectId}/destinations`, {
      name: url,
      url,
      allow_plain_http: true,
      timeout_ms: 5000,
    });
    assert.equal(d.status, 201, d.text);
    const s = await z.call("POST", `/v1/projects/${z.projectId}/subscriptions`, {
      destination_id: d.json.id,
    });
    assert.equal(s.status, 201, s.text);
    return d.json as { id: string; secret: string };
  };

  before(async () => {
    rx = await startVerifyingReceiver();
    raw = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        rawArrivals.push({ headers: flat(req.headers), body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    rawUrl = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/readme`;
    z = await startZenmesh({ name: "newcomer", env: { ZENMESH_EGRESS_ALLOW_CIDRS: "127.0.0.1/32" } });
  });
  after(async () => {
    await z?.stop();
    await rx?.close();
    raw?.closeAllConnections();
    await new Promise<void>((r) => (raw ? raw.close(() => r()) : r()));
  });

  test("the banner names the database in use", () => {
    assert.match(
      z.output(),
      new RegExp(`^  database   embedded PostgreSQL server in ${join(z.dir, "pg")}$`, "m"),
    );
  });

  test("zenmesh status lists every role, the backend included", async () => {
    const roles = await until("every role in zenmesh status", async () => {
      const r = cli(["status"]);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout) as { roles: { role: string; pid: number }[]; silent: string[] };
      const names = s.roles.map((x) => x.role).sort();
      return names.length === 4 && s.silent.length === 0 ? s.roles : undefined;
    });
    assert.deepEqual(roles.map((r) => r.role).sort(), ["backend", "bff", "egress", "ingester"]);
    assert.equal(roles.find((r) => r.role === "backend")?.pid, z.pidOf("backend"));
  });

  test("a mistyped flag is refused, naming it, and nothing is created", () => {
    const r = cli(["tenant", "create", "--nam", "Typo"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /UNKNOWN_FLAG: unknown flag --nam for `zenmesh tenant create`/);
    assert.equal(r.stdout, "");
    const s = cli(["status", "--verbose"]);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /UNKNOWN_FLAG: unknown flag --verbose for `zenmesh status`/);
  });

  test("audit verify fails on a tenant this installation does not hold", () => {
    const r = cli(["audit", "verify", "--tenant-id", "tnt_doesnotexist0000"]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /AUDIT_TENANT_UNKNOWN: no tenant tnt_doesnotexist0000 in this database/);
    assert.doesNotMatch(r.stdout, /verifies/);
    const ok = cli(["audit", "verify", "--tenant-id", z.tenantId]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test("a test send goes through the ingest path and reaches a subscribed receiver, verified", async () => {
    const d = await subscribe(`${rx.url}/test-send`);
    rx.expect("/test-send", d.secret);
    const source = await z.githubSource("test send");
    const r = await z.call("POST", `/v1/projects/${z.projectId}/sources/${source.id}/test`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ingest_url, source.ingest_url);
    const id = r.json.event_id as string;
    await until("the test event at the receiver", async () =>
      rx.counts("/test-send").has(id) ? true : undefined,
    );
    assert.equal(rx.failures, 0);

    // The same sample again is, for a provider that signs no timestamp (GitHub), a redelivery.
    const again = await z.call("POST", `/v1/projects/${z.projectId}/sources/${source.id}/test`);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual([again.json.event_id, again.json.duplicate], [id, true]);

    const other = await z.githubSource("test send from the CLI");
    const viaCli = cli(["source", "test", "--source-id", other.id, "--json"], { ZENMESH_API_KEY: z.key });
    assert.equal(viaCli.code, 0, viaCli.stderr);
    const second = JSON.parse(viaCli.stdout) as { event_id: string; duplicate: boolean };
    assert.equal(second.duplicate, false);
    await until("the CLI's test event at the receiver", async () =>
      rx.counts("/test-send").has(second.event_id) ? true : undefined,
    );
    assert.equal(rx.failures, 0);

    const unauthenticated = cli(["source", "test", "--source-id", source.id]);
    assert.equal(unauthenticated.code, 1);
    assert.match(unauthenticated.stderr, /UNAUTHENTICATED: set ZENMESH_API_KEY/);
  });

  test("the README's receiver snippet is the example file, and it verifies a real delivery", async () => {
    const readme = readFileSync(README, "utf8");
    const example = readFileSync(EXAMPLE, "utf8");
    assert.ok(readme.includes(`\`\`\`ts\n${example}\`\`\``), "the README shows the example file verbatim");

    const d = await subscribe(rawUrl);
    const source = await z.githubSource("readme");
    // A source reaches the ingester within about a second; until then it answers 404 and stores nothing.
    const sent = await until("the README source to take a webhook", async () => {
      const r = await z.sendGithub(source, JSON.stringify({ readme: "snippet" }));
      return r.status === 202 ? r : undefined;
    });
    const arrival = await until("a delivery at the README receiver", async () =>
      rawArrivals.find((a) => a.headers["webhook-id"] === sent.id),
    );
    const event = verifyZenmeshWebhook(d.secret, arrival.body, arrival.headers);
    assert.equal(event.id, sent.id);
    assert.deepEqual(event.data, { readme: "snippet" });
    assert.throws(() =>
      verifyZenmeshWebhook(d.secret, arrival.body.replace("snippet", "snippeT"), arrival.headers),
    );
    assert.throws(() =>
      verifyZenmeshWebhook(d.secret, arrival.body, { ...arrival.headers, "webhook-timestamp": "1000000000" }),
    );
  });
});
