/**
 * What sources of the public-key and credential providers accept as their
 * secret: Discord and SendGrid hold the provider's public key, which zenmesh
 * cannot generate (SOURCE_SECRET_REQUIRED on create and rotate without one)
 * and which must parse as a key of the right kind; Clerk and Resend take
 * Svix's `whsec_` secrets only; Postmark's Basic auth and Twilio's and
 * Mandrill's form signatures authenticate no body bytes, so their sources take
 * no CloudEvents mode. Real database, real sealing.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { type ActionContext, fixedClock, isZenError, newId } from "../../core/index.ts";
import { createTenant, PROJECT_PERMISSIONS } from "../../tenancy/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../../zenlock/index.ts";
import { ed25519Secret, p256Secret } from "../providers/keys.test-support.ts";
import {
  createSource,
  listSources,
  loadSourceChanges,
  rotateSourceSecret,
  type SourceDeps,
} from "./index.ts";

async function rejects(p: Promise<unknown>, code: string, path?: string): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(isZenError(err), String(err));
    assert.equal(err.code, code);
    if (path !== undefined) {
      const issues = (err.details?.issues ?? []) as { path: string }[];
      assert.ok(
        issues.some((i) => i.path === path),
        JSON.stringify(issues),
      );
    }
    return true;
  });
}

for (const kind of DRIVERS) {
  describe(`provider secrets on ${kind}`, { skip: skipReason(kind) }, () => {
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
        ingestBaseUrl: () => "https://in.example.test",
      };
      const { tenantId, projectId } = await createTenant(deps, {
        name: "keys",
        correlationId: newId("correlation"),
        actor: { type: "operator", id: "test" },
      });
      ctx = {
        tenantId,
        projectId,
        actor: { type: "user", id: newId("user") },
        permissions: new Set(PROJECT_PERMISSIONS),
        correlationId: newId("correlation"),
      };
    });
    after(async () => {
      await t?.close();
    });

    for (const [scheme, key] of [
      ["discord", ed25519Secret],
      ["sendgrid", p256Secret],
    ] as const) {
      test(`${scheme}: no secret is refused with SOURCE_SECRET_REQUIRED and nothing is written`, async () => {
        const before = await listSources(deps, ctx, { limit: 100 });
        await rejects(createSource(deps, ctx, { name: `${scheme} none`, scheme }), "SOURCE_SECRET_REQUIRED");
        const afterwards = await listSources(deps, ctx, { limit: 100 });
        assert.equal(afterwards.length, before.length);
      });

      test(`${scheme}: a secret that is not the provider's kind of public key fails validation at secret`, async () => {
        const other = scheme === "discord" ? p256Secret() : ed25519Secret();
        for (const secret of [other, "not a public key at all", "ab".repeat(31)]) {
          await rejects(
            createSource(deps, ctx, { name: `${scheme} bad`, scheme, secret }),
            "VALIDATION_FAILED",
            "secret",
          );
        }
      });

      test(`${scheme}: the public key is stored and pushed as the secret; rotation needs the next key`, async () => {
        const first = key();
        const { source, secret } = await createSource(deps, ctx, {
          name: `${scheme} ok`,
          scheme,
          secret: first,
        });
        assert.equal(secret, first);
        await rejects(rotateSourceSecret(deps, ctx, source.id, {}), "SOURCE_SECRET_REQUIRED");
        const next = key();
        await rotateSourceSecret(deps, ctx, source.id, { secret: next });
        const changes = await loadSourceChanges(t.db, deps.zenlock, 0, clock.now());
        const pushed = changes.upserts.find((u) => u.id === source.id);
        assert.deepEqual(
          pushed?.secrets.map((s) => s.value),
          [next, first],
        );
      });
    }

    test("clerk and resend take whsec_ secrets only, and generate them", async () => {
      for (const scheme of ["clerk", "resend"] as const) {
        const { secret } = await createSource(deps, ctx, { name: `${scheme} gen`, scheme });
        assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
        await rejects(
          createSource(deps, ctx, { name: `${scheme} bad`, scheme, secret: "sk_live_0123456789" }),
          "VALIDATION_FAILED",
          "secret",
        );
      }
    });

    test("postmark, twilio and mandrill take no CloudEvents mode; discord takes structured", async () => {
      for (const scheme of ["postmark", "twilio", "mandrill"] as const) {
        await rejects(
          createSource(deps, ctx, { name: `${scheme} ce`, scheme, cloudevents: "structured" }),
          "CLOUDEVENTS_MODE_UNAUTHENTICATED",
        );
      }
      const { secret: basic } = await createSource(deps, ctx, { name: "postmark gen", scheme: "postmark" });
      assert.match(basic, /^postmark:[A-Za-z0-9_-]{43}$/);
      const { secret: token } = await createSource(deps, ctx, { name: "twilio gen", scheme: "twilio" });
      assert.match(token, /^[0-9a-f]{32}$/);
      const { source } = await createSource(deps, ctx, {
        name: "discord ce",
        scheme: "discord",
        secret: ed25519Secret(),
        cloudevents: "structured",
      });
      assert.equal(source.cloudevents, "structured");
    });
  });
}
