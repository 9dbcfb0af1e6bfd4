import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { listAudit, verifyAuditChain } from "../../audit/index.ts";
import { type ActionContext, fixedClock, isZenError, newId } from "../../core/index.ts";
import { createTenant, PROJECT_PERMISSIONS } from "../../tenancy/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../../zenlock/index.ts";
import {
  createSource,
  deleteSource,
  getSource,
  listSources,
  loadSourceChanges,
  rotateSourceSecret,
  type SourceDeps,
  updateSource,
} from "./index.ts";

const PIN = "a".repeat(64);
const WHSEC = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;

async function rejects(p: Promise<unknown>, code: string, path?: string): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(isZenError(err), String(err));
    assert.equal(err.code, code);
    if (path !== undefined) {
      const issues = (err.details?.issues ?? []) as { path: string }[];
      assert.ok(
        issues.some((i) => i.path === path),
        `expected an issue at ${path}: ${JSON.stringify(issues)}`,
      );
    }
    return true;
  });
}

for (const kind of DRIVERS) {
  describe(`source actions on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let deps: SourceDeps;
    let ctx: ActionContext;
    const clock = fixedClock("2030-01-01T00:00:00Z");

    before(async () => {
      t = await freshDatabase(kind);
      deps = {
        db: t.db,
        zenlock: new ZenLock({ masterKeys: parseMasterKeyRing(generateMasterKey(), "test") }),
        clock,
        apiKeyEnvironment: "test",
        sessions: { idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 600 },
        ingestBaseUrl: () => "https://in.example.test/",
      };
      const { tenantId, projectId } = await createTenant(deps, {
        name: "acme",
        correlationId: "corr-test-1",
        actor: { type: "operator", id: "test" },
      });
      ctx = {
        tenantId,
        projectId,
        actor: { type: "user", id: newId("user") },
        permissions: new Set(PROJECT_PERMISSIONS),
        correlationId: "corr-test-2",
      };
    });
    after(async () => {
      await t?.close();
    });

    const secretsNow = async (sourceId: string, now = clock.now()) => {
      const changes = await loadSourceChanges(t.db, deps.zenlock, 0, now);
      const s = changes.upserts.find((u) => u.id === sourceId);
      assert.ok(s, "the source is in the snapshot");
      return s.secrets;
    };

    test("creating a source returns its generated secret once; reads show only versions", async () => {
      const { source, secret } = await createSource(deps, ctx, { name: " github ", scheme: "github" });
      assert.ok(secret.length >= 8);
      assert.equal(source.name, "github");
      assert.equal(source.scheme, "github");
      assert.equal(source.ingest_url, `https://in.example.test/e/${source.id}`);
      assert.match(source.id, /^src_[0-9A-Za-z]{22}$/);
      assert.deepEqual(
        {
          signature_required: source.signature_required,
          allow_plain_http: source.allow_plain_http,
          client_cert_pins: source.client_cert_pins,
          max_body_bytes: source.max_body_bytes,
          content_types: source.content_types,
          tolerance_seconds: source.tolerance_seconds,
          secret_overlap_seconds: source.secret_overlap_seconds,
          enabled: source.enabled,
        },
        {
          signature_required: true,
          allow_plain_http: false,
          client_cert_pins: [],
          max_body_bytes: 1024 * 1024,
          // GitHub's webhook form defaults to its form encoding: a new GitHub source takes both.
          content_types: ["application/json", "application/x-www-form-urlencoded"],
          tolerance_seconds: 300,
          secret_overlap_seconds: 86_400,
          enabled: true,
        },
      );
      assert.deepEqual(source.secret_versions, [
        { version: 1, created_at: clock.now().toISOString(), expires_at: null },
      ]);
      const one = await getSource(deps, ctx, source.id);
      const all = await listSources(deps, ctx, { limit: 50 });
      assert.deepEqual(one, source);
      assert.deepEqual(
        all.find((s) => s.id === source.id),
        source,
      );
      for (const text of [JSON.stringify(one), JSON.stringify(all)]) assert.ok(!text.includes(secret));

      const stored = await t.admin<{ sealed: string }>(
        "select sealed from source_secrets where source_id = $1",
        [source.id],
      );
      assert.equal(stored.length, 1);
      assert.ok(!stored[0]!.sealed.includes(secret));
      assert.ok(!stored[0]!.sealed.includes(Buffer.from(secret).toString("base64")));
      assert.deepEqual(
        (await secretsNow(source.id)).map((s) => s.value),
        [secret],
      );
    });

    test("a new source takes its provider's default media types unless it names its own", async () => {
      const stripe = await createSource(deps, ctx, { name: "stripe", scheme: "stripe" });
      assert.deepEqual(stripe.source.content_types, ["application/json"]);
      const slack = await createSource(deps, ctx, { name: "slack", scheme: "slack" });
      assert.deepEqual(slack.source.content_types, ["application/json", "application/x-www-form-urlencoded"]);
      const chosen = await createSource(deps, ctx, {
        name: "github json only",
        scheme: "github",
        content_types: ["application/json"],
      });
      assert.deepEqual(chosen.source.content_types, ["application/json"]);
    });

    test("a user-supplied secret is the one stored and distributed", async () => {
      const mine = "my own provider secret 42";
      const { source, secret } = await createSource(deps, ctx, {
        name: "hmac",
        scheme: "generic-hmac",
        settings: { header: "x-signature", encoding: "base64" },
        secret: mine,
        client_cert_pins: [PIN, PIN],
        content_types: ["Application/CloudEvents+JSON", "application/json"],
        max_body_bytes: 16 * 1024 * 1024,
        tolerance_seconds: 60,
        signature_required: false,
        allow_plain_http: true,
      });
      assert.equal(secret, mine);
      assert.deepEqual(source.settings, { header: "x-signature", algorithm: "sha256", encoding: "base64" });
      assert.deepEqual(source.client_cert_pins, [PIN]);
      assert.deepEqual(source.content_types, ["application/cloudevents+json", "application/json"]);
      assert.equal(source.max_body_bytes, 16 * 1024 * 1024);
      const [s] = await secretsNow(source.id);
      assert.equal(s?.value, mine);
    });

    test("schemes with a fixed secret format generate and accept only that format", async () => {
      const generated = await createSource(deps, ctx, { name: "sw", scheme: "standard-webhooks" });
      assert.match(generated.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
      const supplied = await createSource(deps, ctx, {
        name: "sw",
        scheme: "standard-webhooks",
        secret: WHSEC,
      });
      assert.equal(supplied.secret, WHSEC);
      for (const secret of [
        "not-a-whsec-secret",
        "whsec_!!!!!!!!",
        `whsec_${Buffer.alloc(8).toString("base64")}`,
      ]) {
        await rejects(
          createSource(deps, ctx, { name: "sw", scheme: "standard-webhooks", secret }),
          "VALIDATION_FAILED",
          "secret",
        );
      }
      const stripe = await createSource(deps, ctx, { name: "stripe", scheme: "stripe" });
      assert.match(stripe.secret, /^whsec_/);
      await rejects(
        createSource(deps, ctx, { name: "stripe", scheme: "stripe", secret: "sk_live_not_a_webhook_secret" }),
        "VALIDATION_FAILED",
        "secret",
      );
    });

    test("invalid input fails validation without writing anything", async () => {
      const before = await t.admin<{ n: number }>("select count(*)::int as n from sources");
      const bad: [Record<string, unknown>, string][] = [
        [{ name: "x", scheme: "carrier-pigeon" }, "scheme"],
        [{ name: "x", scheme: "standard-webhooks", settings: { unknown_setting: true } }, "settings"],
        [{ name: "x", scheme: "github", client_cert_pins: ["A".repeat(64)] }, "client_cert_pins.0"],
        [{ name: "x", scheme: "github", client_cert_pins: ["ab"] }, "client_cert_pins.0"],
        [{ name: "x", scheme: "github", max_body_bytes: 0 }, "max_body_bytes"],
        [{ name: "x", scheme: "github", max_body_bytes: 16 * 1024 * 1024 + 1 }, "max_body_bytes"],
        [
          { name: "x", scheme: "github", content_types: ["application/json; charset=utf-8"] },
          "content_types.0",
        ],
        [{ name: "x", scheme: "github", content_types: [] }, "content_types"],
        // Meta's GET check is answered only for the source's verify token: no token, no source.
        [{ name: "x", scheme: "meta" }, "settings.verify_token"],
        [{ name: "x", scheme: "meta", settings: { verify_token: "short" } }, "settings.verify_token"],
        [{ name: "x", scheme: "twitch", secret: "x".repeat(101) }, "secret"],
        // Graph refuses a clientState over 128 characters.
        [{ name: "x", scheme: "microsoft-graph", secret: "x".repeat(129) }, "secret"],
        [{ name: "x", scheme: "github", secret: "short" }, "secret"],
        [{ name: "x", scheme: "github", secret: "x".repeat(1025) }, "secret"],
        [{ name: "x", scheme: "github", tolerance_seconds: 0 }, "tolerance_seconds"],
        [{ name: "", scheme: "github" }, "name"],
      ];
      for (const [input, path] of bad) {
        // @ts-expect-error: deliberately outside the input type
        const p = createSource(deps, ctx, input);
        await rejects(p, "VALIDATION_FAILED");
        await p.catch((err) => {
          const paths = (err.details.issues as { path: string }[]).map((i) => i.path);
          assert.ok(
            paths.some((x) => x === path || x.startsWith(`${path}.`)),
            `${JSON.stringify(input)}: ${paths}`,
          );
        });
      }
      assert.deepEqual(await t.admin("select count(*)::int as n from sources"), before);
    });

    test("each action checks its permission first", async () => {
      const reader = { ...ctx, permissions: new Set(["sources:read"]) };
      const writer = { ...ctx, permissions: new Set(["sources:write"]) };
      const { source } = await createSource(deps, ctx, { name: "perm", scheme: "github" });
      await rejects(createSource(deps, reader, { name: "x", scheme: "github" }), "FORBIDDEN");
      await rejects(updateSource(deps, reader, source.id, { name: "y" }), "FORBIDDEN");
      await rejects(rotateSourceSecret(deps, reader, source.id, {}), "FORBIDDEN");
      await rejects(deleteSource(deps, reader, source.id), "FORBIDDEN");
      await rejects(getSource(deps, writer, source.id), "FORBIDDEN");
      await rejects(listSources(deps, writer, { limit: 5 }), "FORBIDDEN");
      assert.equal((await getSource(deps, reader, source.id)).name, "perm");
    });

    test("another project's source is not found", async () => {
      const { source } = await createSource(deps, ctx, { name: "mine", scheme: "github" });
      const other = await createTenant(deps, {
        name: "other",
        correlationId: "corr-test-3",
        actor: { type: "operator", id: "test" },
      });
      const elsewhere = { ...ctx, tenantId: other.tenantId, projectId: other.projectId };
      const sameTenant = { ...ctx, projectId: newId("project") };
      for (const c of [elsewhere, sameTenant]) {
        await rejects(getSource(deps, c, source.id), "NOT_FOUND");
        await rejects(updateSource(deps, c, source.id, { enabled: false }), "NOT_FOUND");
        await rejects(rotateSourceSecret(deps, c, source.id, {}), "NOT_FOUND");
        await rejects(deleteSource(deps, c, source.id), "NOT_FOUND");
        assert.ok(!(await listSources(deps, c, { limit: 200 })).some((s) => s.id === source.id));
      }
      assert.equal((await getSource(deps, ctx, source.id)).enabled, true);
    });

    test("updating changes only the fields named, validated against the source's scheme", async () => {
      const { source, secret } = await createSource(deps, ctx, { name: "upd", scheme: "standard-webhooks" });
      clock.advance(1000);
      const updated = await updateSource(deps, ctx, source.id, {
        name: "renamed",
        enabled: false,
        client_cert_pins: [PIN],
        max_body_bytes: 2048,
      });
      assert.equal(updated.name, "renamed");
      assert.equal(updated.enabled, false);
      assert.deepEqual(updated.client_cert_pins, [PIN]);
      assert.equal(updated.max_body_bytes, 2048);
      assert.equal(updated.tolerance_seconds, source.tolerance_seconds);
      assert.equal(updated.updated_at, clock.now().toISOString());
      assert.equal(updated.created_at, source.created_at);
      assert.deepEqual(updated.secret_versions, source.secret_versions);
      await rejects(updateSource(deps, ctx, source.id, {}), "VALIDATION_FAILED");
      await rejects(
        updateSource(deps, ctx, source.id, { settings: { nope: 1 } }),
        "VALIDATION_FAILED",
        "settings",
      );
      // Neither the scheme nor the secret can be patched.
      for (const patch of [{ secret: "a new secret value" }, { scheme: "github" }]) {
        await rejects(
          updateSource(deps, ctx, source.id, patch as Record<string, unknown>),
          "VALIDATION_FAILED",
        );
      }
      const [s] = await secretsNow(source.id);
      assert.equal(s?.value, secret);
    });

    test("rotation keeps the previous secret for the overlap, then drops it", async () => {
      const { source, secret: first } = await createSource(deps, ctx, {
        name: "rot",
        scheme: "github",
        secret_overlap_seconds: 3600,
      });
      clock.advance(10_000);
      const t1 = clock.now();
      const r1 = await rotateSourceSecret(deps, ctx, source.id, {});
      assert.notEqual(r1.secret, first);
      const end1 = new Date(t1.getTime() + 3600_000).toISOString();
      assert.deepEqual(r1.source.secret_versions, [
        { version: 2, created_at: t1.toISOString(), expires_at: null },
        { version: 1, created_at: source.created_at, expires_at: end1 },
      ]);
      assert.ok(!JSON.stringify(r1.source).includes(r1.secret));
      assert.deepEqual(await secretsNow(source.id), [
        { version: 2, value: r1.secret, expiresAt: null },
        { version: 1, value: first, expiresAt: end1 },
      ]);
      const justBefore = new Date(t1.getTime() + 3600_000 - 1);
      assert.equal((await secretsNow(source.id, justBefore)).length, 2);
      const atEnd = new Date(t1.getTime() + 3600_000);
      assert.deepEqual(
        (await secretsNow(source.id, atEnd)).map((s) => s.version),
        [2],
      );

      // A second rotation with its own overlap: the first secret keeps its earlier end.
      clock.advance(60_000);
      const t2 = clock.now();
      const r2 = await rotateSourceSecret(deps, ctx, source.id, {
        secret: "supplied on rotation",
        overlap_seconds: 7200,
      });
      assert.equal(r2.secret, "supplied on rotation");
      assert.deepEqual(
        r2.source.secret_versions.map((v) => [v.version, v.expires_at]),
        [
          [3, null],
          [2, new Date(t2.getTime() + 7200_000).toISOString()],
          [1, end1],
        ],
      );
      // An emergency rotation (overlap 0) retires every older secret at once; expired rows are deleted.
      clock.set(new Date(t1.getTime() + 3600_000 + 1));
      const r3 = await rotateSourceSecret(deps, ctx, source.id, { overlap_seconds: 0 });
      assert.deepEqual(
        r3.source.secret_versions.map((v) => v.version),
        [4],
      );
      assert.deepEqual(
        (await secretsNow(source.id)).map((s) => [s.version, s.value]),
        [[4, r3.secret]],
      );
      const rows = await t.admin<{ version: number }>(
        "select version from source_secrets where source_id = $1 order by version",
        [source.id],
      );
      // Expired rows are deleted, so no sealed copy of a retired secret stays behind.
      assert.deepEqual(
        rows.map((r) => Number(r.version)),
        [4],
      );
    });

    test("rotation beyond the cap of live versions expires the oldest first", async () => {
      const { source } = await createSource(deps, ctx, {
        name: "capped",
        scheme: "github",
        secret_overlap_seconds: 3600,
      });
      const secrets: string[] = [];
      for (let i = 0; i < 5; i++) {
        clock.advance(1000);
        secrets.push((await rotateSourceSecret(deps, ctx, source.id, {})).secret);
      }
      const view = await getSource(deps, ctx, source.id);
      // Six versions made, all inside their overlap: only the newest three (the default cap) are live.
      assert.deepEqual(
        view.secret_versions.map((v) => v.version),
        [6, 5, 4],
      );
      assert.deepEqual(
        (await secretsNow(source.id)).map((s) => [s.version, s.value]),
        [
          [6, secrets[4]],
          [5, secrets[3]],
          [4, secrets[2]],
        ],
      );
      // The retired versions' sealed rows are gone, not merely hidden.
      const rows = await t.admin<{ version: number }>(
        "select version from source_secrets where source_id = $1 order by version",
        [source.id],
      );
      assert.deepEqual(
        rows.map((r) => Number(r.version)),
        [4, 5, 6],
      );
      const capped = await rotateSourceSecret({ ...deps, maxSecretVersions: 1 }, ctx, source.id, {});
      assert.deepEqual(
        capped.source.secret_versions.map((v) => v.version),
        [7],
      );
    });

    test("a source already holding more live versions than the cap hands out only its newest", async () => {
      const { source } = await createSource(deps, ctx, {
        name: "legacy",
        scheme: "github",
        secret_overlap_seconds: 3600,
      });
      // Made under a higher cap (as before there was one): five versions live at once.
      const wide = { ...deps, maxSecretVersions: 8 };
      for (let i = 0; i < 4; i++) {
        clock.advance(1000);
        await rotateSourceSecret(wide, ctx, source.id, {});
      }
      assert.equal((await getSource(deps, ctx, source.id)).secret_versions.length, 3);
      const changes = await loadSourceChanges(t.db, deps.zenlock, 0, clock.now());
      const pushed = changes.upserts.find((u) => u.id === source.id);
      assert.deepEqual(
        pushed?.secrets.map((s) => s.version),
        [5, 4, 3],
      );
      const narrower = await loadSourceChanges(t.db, deps.zenlock, 0, clock.now(), { maxSecretVersions: 2 });
      assert.deepEqual(
        narrower.upserts.find((u) => u.id === source.id)?.secrets.map((s) => s.version),
        [5, 4],
      );
    });

    test("deleting removes the source and its secrets and marks the directory entry", async () => {
      const { source } = await createSource(deps, ctx, { name: "gone", scheme: "github" });
      await rotateSourceSecret(deps, ctx, source.id, {});
      const [dirBefore] = await t.admin<{ revision: string }>(
        "select revision from source_directory where source_id = $1",
        [source.id],
      );
      await deleteSource(deps, ctx, source.id);
      await rejects(getSource(deps, ctx, source.id), "NOT_FOUND");
      await rejects(deleteSource(deps, ctx, source.id), "NOT_FOUND");
      assert.deepEqual(await t.admin("select 1 from sources where id = $1", [source.id]), []);
      assert.deepEqual(await t.admin("select 1 from source_secrets where source_id = $1", [source.id]), []);
      const [dir] = await t.admin<{ revision: string; deleted: boolean }>(
        "select revision, deleted from source_directory where source_id = $1",
        [source.id],
      );
      assert.equal(dir?.deleted, true);
      assert.ok(Number(dir?.revision) > Number(dirBefore?.revision));
    });

    test("lists page by id after a cursor", async () => {
      const other = await createTenant(deps, {
        name: "pages",
        correlationId: "corr-test-4",
        actor: { type: "operator", id: "test" },
      });
      const c = { ...ctx, tenantId: other.tenantId, projectId: other.projectId };
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push((await createSource(deps, c, { name: `s${i}`, scheme: "slack" })).source.id);
      ids.sort();
      const first = await listSources(deps, c, { limit: 2 });
      const rest = await listSources(deps, c, { limit: 2, after: first.at(-1)?.id });
      assert.deepEqual(
        [...first, ...rest].map((s) => s.id),
        ids,
      );
    });

    test("every change is audited without its secret and the chain verifies", async () => {
      const { source, secret } = await createSource(deps, ctx, { name: "audited", scheme: "github" });
      await updateSource(deps, ctx, source.id, { enabled: false });
      const rotated = await rotateSourceSecret(deps, ctx, source.id, {});
      await deleteSource(deps, ctx, source.id);
      const entries = await t.db.withTenant(ctx.tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      const mine = entries.filter((e) => e.targetId === source.id);
      assert.deepEqual(
        mine.map((e) => e.action),
        ["source.create", "source.update", "source.secret_rotate", "source.delete"],
      );
      for (const e of mine) {
        assert.equal(e.actorType, "user");
        assert.equal(e.projectId, ctx.projectId);
        assert.equal(e.details.scheme, "github");
      }
      assert.equal(mine[0]?.details.version, 1);
      assert.equal(mine[1]?.details.fields, "enabled");
      assert.equal(mine[2]?.details.version, 2);
      const text = JSON.stringify(entries);
      assert.ok(!text.includes(secret) && !text.includes(rotated.secret));
      const verified = await verifyAuditChain(t.db, ctx.tenantId);
      assert.equal(verified.ok, true, JSON.stringify(verified));
    });
  });
}
