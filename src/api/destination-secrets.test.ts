/**
 * What a destination keeps secret: customer credentials and signing secrets
 * are shown at most once, stored sealed twice (ZenLock outside, a box only
 * egress opens inside), handed to dispatch still boxed, rotated with an
 * overlap, and never written without the egress key.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { newId, ZenError } from "../core/index.ts";
import { generateBoxKeyPair, openBox } from "../deliver/box.ts";
import {
  createDestination,
  credentialsSeal,
  type DoubleSeal,
  loadDestinationsForDispatch,
  rotateDestinationSecret,
  secretSeal,
  updateDestination,
} from "../deliver/destinations/index.ts";
import {
  openSigningBoxes,
  testClientCertificate,
  testSigningSecret,
} from "../deliver/destinations/testing.ts";
import { PROJECT_PERMISSIONS } from "../tenancy/index.ts";

const HOOK = "https://hooks.example.test/zenmesh";

for (const kind of DRIVERS) {
  describe(`destination secrets and credentials on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenantId: string;
    let projectId: string;
    let admin: string;
    const url = (suffix = "") => `/v1/projects/${projectId}/destinations${suffix}`;
    const create = (body: unknown) => api.request("POST", url(), { key: admin, body });
    const ctx = () => ({
      tenantId,
      projectId,
      actor: { type: "operator", id: "test" } as const,
      permissions: new Set<string>(PROJECT_PERMISSIONS),
      correlationId: newId("correlation"),
    });
    const dispatch = (id: string) =>
      api.t.db.withTenant(tenantId, async (tx) =>
        (await loadDestinationsForDispatch(api.tenancy, tx, tenantId, [id], api.clock.now())).get(id),
      );
    /** The signing secrets dispatch hands egress, opened as egress opens them; `versions` are those expected, newest first. */
    const signing = async (id: string, versions: number[]) => {
      const opened = openSigningBoxes(api.egressBox, id, (await dispatch(id))?.secrets ?? []);
      assert.deepEqual(
        opened.map((o) => o.version),
        versions,
      );
      return opened.map((o) => o.secret);
    };
    /** Opens both layers: ZenLock as the backend can, then the box as only egress can. */
    const openTwice = (seal: DoubleSeal, sealed: string) =>
      api.t.db.withTenant(tenantId, async (tx) => {
        const inner = (await api.tenancy.zenlock.open(tx, tenantId, seal.outer, sealed)).toString("utf8");
        return { inner, plain: openBox(api.egressBox, seal.inner, inner).toString("utf8") };
      });

    before(async () => {
      api = await startTestApi(kind);
      ({ tenantId, projectId, key: admin } = await api.tenant());
    });
    after(async () => {
      await api?.close();
    });

    test("credentials are sealed twice, never shown, and open only with the egress key", async () => {
      const token = `tok_${randomBytes(16).toString("hex")}`;
      const mtls = await testClientCertificate();
      const r = await create({
        name: "secured",
        url: HOOK,
        credentials: { auth: { type: "bearer", token }, client_certificate: mtls },
      });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(r.json.credentials, { kinds: ["bearer", "mtls"] });
      const id: string = r.json.id;
      const [row] = await api.t.admin<{ credentials_sealed: string; credential_kinds: string[] }>(
        "select credentials_sealed, credential_kinds from destinations where id = $1",
        [id],
      );
      const [secretRow] = await api.t.admin<{ sealed: string }>(
        "select sealed from destination_secrets where destination_id = $1 and version = 1",
        [id],
      );
      assert.ok(row && secretRow);
      const keyBody = mtls.key_pem.split("\n")[1]!;
      for (const stored of [row.credentials_sealed, secretRow.sealed]) {
        for (const plain of [token, keyBody, r.json.secret, Buffer.from(token).toString("base64")]) {
          assert.ok(!stored.includes(plain), "nothing stored in the clear");
        }
      }
      // The backend can remove its own layer, but what is under it is still a box only egress opens.
      const creds = await openTwice(credentialsSeal(id), row.credentials_sealed);
      assert.ok(!creds.inner.includes(token) && !creds.inner.includes(keyBody));
      assert.deepEqual(JSON.parse(creds.plain), {
        auth: { type: "bearer", token },
        client_certificate: mtls,
      });
      const sig = await openTwice(secretSeal(id, 1), secretRow.sealed);
      assert.equal(sig.plain, r.json.secret);
      assert.throws(() => openBox(generateBoxKeyPair(), credentialsSeal(id).inner, creds.inner));
      assert.throws(() => openBox(api.egressBox, secretSeal(id, 1).inner, creds.inner), "bound to its row");
      const d = await dispatch(id);
      assert.equal(d?.credentials, creds.inner);
      assert.deepEqual(d?.secrets, [`v1:${sig.inner}`]);

      const password = `pw-${randomBytes(12).toString("hex")}`;
      const basic = await api.request("PATCH", url(`/${id}`), {
        key: admin,
        body: { credentials: { auth: { type: "basic", username: "zen", password } } },
      });
      assert.equal(basic.status, 200, basic.text);
      assert.deepEqual(basic.json.credentials, { kinds: ["basic"] });
      const after = (await dispatch(id))?.credentials;
      assert.ok(after);
      const parsed = JSON.parse(openBox(api.egressBox, credentialsSeal(id).inner, after).toString("utf8"));
      assert.deepEqual(parsed, { auth: { type: "basic", username: "zen", password } });
      const header = await api.request("PATCH", url(`/${id}`), {
        key: admin,
        body: { credentials: { auth: { type: "header", name: "X-Api-Key", value: token } } },
      });
      assert.deepEqual(header.json.credentials, { kinds: ["header"] });
      const cleared = await api.request("PATCH", url(`/${id}`), { key: admin, body: { credentials: null } });
      assert.deepEqual(cleared.json.credentials, { kinds: [] });
      assert.equal((await dispatch(id))?.credentials, null);
      assert.deepEqual(await api.t.admin("select credentials_sealed from destinations where id = $1", [id]), [
        { credentials_sealed: null },
      ]);

      const everything = [...api.bodies, api.logs.text()].join("\n");
      for (const plain of [token, password, keyBody])
        assert.ok(!everything.includes(plain), "no response or log");
    });

    test("rotation keeps the previous secret signing for the overlap, then drops it", async () => {
      const r = await create({ name: "rotating", url: HOOK, secret_overlap_seconds: 600 });
      const id: string = r.json.id;
      api.clock.advance(5000);
      const t1 = api.clock.now();
      const rot = await api.request("POST", url(`/${id}/rotate-secret`), { key: admin, body: {} });
      assert.equal(rot.status, 200, rot.text);
      assert.equal(rot.headers.get("cache-control"), "no-store");
      assert.notEqual(rot.json.secret, r.json.secret);
      assert.ok(!rot.text.includes(r.json.secret), "the old secret is not echoed");
      const end = new Date(t1.getTime() + 600_000).toISOString();
      assert.deepEqual(rot.json.secret_versions, [
        { version: 2, created_at: t1.toISOString(), expires_at: null },
        { version: 1, created_at: r.json.created_at, expires_at: end },
      ]);
      assert.deepEqual(await signing(id, [2, 1]), [rot.json.secret, r.json.secret]);

      api.clock.set(new Date(t1.getTime() + 600_000));
      const later = await api.request("GET", url(`/${id}`), { key: admin });
      assert.deepEqual(
        later.json.secret_versions.map((v: { version: number }) => v.version),
        [2],
      );
      assert.deepEqual(await signing(id, [2]), [rot.json.secret]);

      const mine = testSigningSecret();
      const now = await api.request("POST", url(`/${id}/rotate-secret`), {
        key: admin,
        body: { secret: mine, overlap_seconds: 0 },
      });
      assert.equal(now.json.secret, mine);
      assert.deepEqual(
        now.json.secret_versions.map((v: { version: number }) => v.version),
        [3],
      );
      assert.deepEqual(await signing(id, [3]), [mine]);
      // Retired rows are deleted, so no sealed copy of an old secret stays behind.
      const rows = await api.t.admin<{ version: number }>(
        "select version from destination_secrets where destination_id = $1",
        [id],
      );
      assert.deepEqual(
        rows.map((x) => Number(x.version)),
        [3],
      );
      const noBody = await api.request("POST", url(`/${id}/rotate-secret`), { key: admin });
      assert.equal(noBody.status, 200, noBody.text);
    });

    test("no more secrets sign at once than a signature header carries", async () => {
      const { id } = await api.destination(tenantId, projectId);
      const secrets: string[] = [];
      for (let i = 0; i < 10; i++) {
        secrets.unshift(
          (await rotateDestinationSecret(api.tenancy, ctx(), id, { overlap_seconds: 3600 })).secret,
        );
      }
      assert.deepEqual(await signing(id, [11, 10, 9, 8, 7, 6, 5, 4]), secrets.slice(0, 8));
      const rows = await api.t.admin("select 1 from destination_secrets where destination_id = $1", [id]);
      assert.equal(rows.length, 8, "the versions beyond are deleted");
    });

    test("without the egress key nothing is sealed: creating, rotating and bringing credentials are unavailable", async () => {
      const deps = { ...api.tenancy, egressBoxKey: () => undefined };
      const { id } = await api.destination(tenantId, projectId);
      const unavailable = (err: unknown) =>
        err instanceof ZenError &&
        err.code === "UNAVAILABLE" &&
        err.message === "the egress key is not configured";
      await assert.rejects(createDestination(deps, ctx(), { name: "x", url: HOOK }), unavailable);
      await assert.rejects(rotateDestinationSecret(deps, ctx(), id, {}), unavailable);
      await assert.rejects(
        updateDestination(deps, ctx(), id, { credentials: { auth: { type: "bearer", token: "t" } } }),
        unavailable,
      );
      assert.equal(
        (await updateDestination(deps, ctx(), id, { name: "still editable" })).name,
        "still editable",
      );
      assert.deepEqual((await updateDestination(deps, ctx(), id, { credentials: null })).credentials, {
        kinds: [],
      });
    });
  });
}
