import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { listAudit, verifyAuditChain } from "../audit/index.ts";
import { newId } from "../core/index.ts";
import { loadDestinationsForDispatch, rotateDestinationSecret } from "../deliver/destinations/index.ts";
import { openSigningBoxes, testSigningSecret } from "../deliver/destinations/testing.ts";
import { persistBatch } from "../ingest/store/index.ts";
import { insertTestSource, testItem } from "../ingest/store/testing.ts";
import { PROJECT_PERMISSIONS } from "../tenancy/index.ts";

const HOOK = "https://hooks.example.test/zenmesh";

for (const kind of DRIVERS) {
  describe(`destinations over HTTP on ${kind}`, { skip: skipReason(kind) }, () => {
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

    before(async () => {
      api = await startTestApi(kind);
      ({ tenantId, projectId, key: admin } = await api.tenant());
    });
    after(async () => {
      await api?.close();
    });

    test("creating a destination returns its signing secret once; list and read never show it", async () => {
      const r = await create({ name: "orders", url: HOOK });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.headers.get("cache-control"), "no-store");
      const secret: string = r.json.secret;
      assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
      const { secret: _, ...view } = r.json;
      assert.deepEqual(
        { ...view, id: undefined, created_at: undefined, updated_at: undefined, secret_versions: undefined },
        {
          id: undefined,
          project_id: projectId,
          name: "orders",
          url: HOOK,
          method: "POST",
          headers: {},
          timeout_ms: 15_000,
          format: "cloudevents-structured",
          max_in_flight: 10,
          rate_limit_per_second: null,
          fifo: false,
          enabled: true,
          disabled_reason: null,
          disabled_at: null,
          allow_plain_http: false,
          auto_replay: false,
          secret_overlap_seconds: 86_400,
          retry: {
            schedule_seconds: [5, 300, 1800, 7200, 18_000, 36_000, 36_000],
            retry_after_cap_seconds: 3600,
          },
          credentials: { kinds: [] },
          health: { state: "closed", consecutive_failures: 0, failing_since: null, opened_at: null },
          created_at: undefined,
          updated_at: undefined,
          secret_versions: undefined,
        },
      );
      assert.deepEqual(view.secret_versions, [{ version: 1, created_at: view.created_at, expires_at: null }]);
      const list = await api.request("GET", url(), { key: admin });
      const one = await api.request("GET", url(`/${r.json.id}`), { key: admin });
      for (const res of [list, one]) {
        assert.equal(res.status, 200, res.text);
        assert.ok(!res.text.includes(secret), "the secret is never shown again");
        assert.ok(!/"secret"|sealed/.test(res.text), res.text);
      }
      assert.deepEqual(one.json, view);
      assert.deepEqual(
        list.json.data.find((d: { id: string }) => d.id === r.json.id),
        view,
      );
      const gates = await api.t.admin(
        "select tenant_id, state from destination_gates where destination_id = $1",
        [r.json.id],
      );
      assert.deepEqual(gates, [{ tenant_id: tenantId, state: "closed" }]);
    });

    test("every setting round-trips; header names are lower-cased; a supplied secret is used", async () => {
      const secret = testSigningSecret();
      const body = {
        name: "everything",
        url: "http://127.0.0.1:9999/in?x=1",
        method: "PUT",
        headers: { "X-Team": "payments", accept: "application/json" },
        timeout_ms: 1000,
        format: "original",
        max_in_flight: 3,
        rate_limit_per_second: 50,
        fifo: true,
        enabled: false,
        allow_plain_http: true,
        auto_replay: true,
        secret_overlap_seconds: 0,
        retry: { schedule_seconds: [], retry_after_cap_seconds: 0 },
        secret,
      };
      const r = await create(body);
      assert.equal(r.status, 201, r.text);
      const { secret: s, headers, ...rest } = body;
      assert.equal(r.json.secret, s);
      for (const [k, v] of Object.entries(rest)) assert.deepEqual(r.json[k], v, k);
      assert.deepEqual(r.json.headers, { "x-team": "payments", accept: "application/json" });
      // Created disabled: manually, with its gate parked.
      assert.equal(r.json.disabled_reason, "manual");
      assert.equal(r.json.disabled_at, api.clock.now().toISOString());
      assert.equal(r.json.health.state, "disabled");
      const d = await dispatch(r.json.id);
      assert.deepEqual(await signing(r.json.id, [1]), [secret]);
      assert.equal(d?.fifo, true);
      assert.equal(d?.enabled, false);
      assert.deepEqual(d?.retrySchedule, []);
      assert.equal(d?.projectId, projectId);
    });

    test("PATCH changes the named fields; enabling and disabling drive the gate", async () => {
      const r = await create({ name: "to change", url: HOOK, retry: { schedule_seconds: [1, 2] } });
      const id: string = r.json.id;
      api.clock.advance(1000);
      const patched = await api.request("PATCH", url(`/${id}`), {
        key: admin,
        body: {
          name: "changed",
          timeout_ms: 2000,
          retry: { retry_after_cap_seconds: 60 },
          rate_limit_per_second: 5,
        },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.name, "changed");
      assert.equal(patched.json.timeout_ms, 2000);
      assert.equal(patched.json.rate_limit_per_second, 5);
      assert.deepEqual(patched.json.retry, { schedule_seconds: [1, 2], retry_after_cap_seconds: 60 });
      assert.equal(patched.json.url, HOOK);
      assert.equal(patched.json.updated_at, api.clock.now().toISOString());
      assert.equal(patched.json.created_at, r.json.created_at);
      assert.deepEqual(patched.json.secret_versions, r.json.secret_versions);
      const unlimited = await api.request("PATCH", url(`/${id}`), {
        key: admin,
        body: { rate_limit_per_second: null },
      });
      assert.equal(unlimited.json.rate_limit_per_second, null);

      const off = await api.request("PATCH", url(`/${id}`), { key: admin, body: { enabled: false } });
      assert.equal(off.json.enabled, false);
      assert.equal(off.json.disabled_reason, "manual");
      assert.equal(off.json.disabled_at, api.clock.now().toISOString());
      assert.equal(off.json.health.state, "disabled");
      // As the delivery engine leaves it after failures: open, counting, failing for a while.
      const since = new Date(api.clock.now().getTime() - 60_000);
      await api.t.admin(
        `update destination_gates set state = 'open', consecutive_failures = 7, failing_since = $2, opened_at = $2
          where destination_id = $1`,
        [id, since],
      );
      await api.t.admin("update destinations set disabled_reason = 'failing' where id = $1", [id]);
      const failing = await api.request("GET", url(`/${id}`), { key: admin });
      assert.deepEqual(failing.json.health, {
        state: "open",
        consecutive_failures: 7,
        failing_since: since.toISOString(),
        opened_at: since.toISOString(),
      });
      const on = await api.request("PATCH", url(`/${id}`), { key: admin, body: { enabled: true } });
      assert.equal(on.json.enabled, true);
      assert.equal(on.json.disabled_reason, null);
      assert.equal(on.json.disabled_at, null);
      assert.deepEqual(on.json.health, {
        state: "closed",
        consecutive_failures: 0,
        failing_since: null,
        opened_at: null,
      });
      // Naming the current value changes nothing about the gate.
      await api.t.admin("update destination_gates set consecutive_failures = 2 where destination_id = $1", [
        id,
      ]);
      const same = await api.request("PATCH", url(`/${id}`), { key: admin, body: { enabled: true } });
      assert.equal(same.json.health.consecutive_failures, 2);
    });

    test("DELETE removes the destination with its secrets, subscriptions, deliveries, queue rows and gate", async () => {
      const { id } = await api.destination(tenantId, projectId);
      await rotateDestinationSecret(api.tenancy, ctx(), id, {});
      const source = await insertTestSource(api.tenancy.db, tenantId, projectId);
      const [event] = await persistBatch(api.tenancy, [testItem(source, api.clock.now())]);
      assert.equal(event?.status, "stored");
      const eventId = event?.status === "stored" ? event.eventId : "";
      const sub = await api.request("POST", `/v1/projects/${projectId}/subscriptions`, {
        key: admin,
        body: { destination_id: id },
      });
      assert.equal(sub.status, 201, sub.text);
      const dlv = newId("delivery");
      await api.t.admin(
        `insert into deliveries (id, tenant_id, project_id, event_id, destination_id, seq, created_at, updated_at)
         values ($1, $2, $3, $4, $5, nextval('delivery_seq'), now(), now())`,
        [dlv, tenantId, projectId, eventId, id],
      );
      await api.t.admin(
        `insert into delivery_attempts (tenant_id, delivery_id, attempt, started_at, latency_ms, verdict)
         values ($1, $2, 1, now(), 5, 'retry')`,
        [tenantId, dlv],
      );
      await api.t.admin(
        `insert into delivery_queue (delivery_id, tenant_id, destination_id, seq, fifo, due_at)
         values ($1, $2, $3, 1, false, now())`,
        [dlv, tenantId, id],
      );
      const del = await api.request("DELETE", url(`/${id}`), { key: admin });
      assert.equal(del.status, 204, del.text);
      for (const [table, column, value] of [
        ["destinations", "id", id],
        ["destination_secrets", "destination_id", id],
        ["destination_gates", "destination_id", id],
        ["subscriptions", "destination_id", id],
        ["deliveries", "destination_id", id],
        ["delivery_attempts", "delivery_id", dlv],
        ["delivery_queue", "destination_id", id],
      ] as const) {
        assert.deepEqual(
          await api.t.admin(`select 1 from ${table} where ${column} = $1`, [value]),
          [],
          table,
        );
      }
      assertError(await api.request("GET", url(`/${id}`), { key: admin }), 404, "NOT_FOUND");
      assertError(await api.request("DELETE", url(`/${id}`), { key: admin }), 404, "NOT_FOUND");
    });

    test("lists page by limit and after cursor; dispatch loads only the tenant's own", async () => {
      const t = await api.tenant("paged");
      const paged = `/v1/projects/${t.projectId}/destinations`;
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push((await api.destination(t.tenantId, t.projectId, { name: `d${i}` })).id);
      const first = await api.request("GET", `${paged}?limit=2`, { key: t.key });
      assert.equal(first.json.data.length, 2);
      assert.ok(first.json.next_cursor);
      const second = await api.request("GET", `${paged}?limit=2&after=${first.json.next_cursor}`, {
        key: t.key,
      });
      assert.equal(second.json.data.length, 1);
      assert.equal(second.json.next_cursor, null);
      assert.deepEqual(
        [...first.json.data, ...second.json.data].map((d: { id: string }) => d.id),
        ids.sort(),
      );
      assert.equal(await dispatch(ids[0]!), undefined, "another tenant's destination is not loaded");
      assertError(await api.request("GET", `${paged}/${ids[0]}`, { key: admin }), 404, "NOT_FOUND");
    });

    test("the changes are in the tenant's audit chain without secrets, and it verifies", async () => {
      const token = `tok_${randomBytes(16).toString("hex")}`;
      const r = await create({
        name: "audited",
        url: HOOK,
        credentials: { auth: { type: "bearer", token } },
      });
      const id: string = r.json.id;
      await api.request("PATCH", url(`/${id}`), { key: admin, body: { enabled: false, credentials: null } });
      const rot = await api.request("POST", url(`/${id}/rotate-secret`), { key: admin, body: {} });
      await api.request("DELETE", url(`/${id}`), { key: admin });
      const entries = await api.t.db.withTenant(tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      const mine = entries.filter((e) => e.targetId === id);
      assert.deepEqual(
        mine.map((e) => [e.action, e.actorType]),
        [
          ["destination.create", "api_key"],
          ["destination.update", "api_key"],
          ["destination.secret_rotate", "api_key"],
          ["destination.delete", "api_key"],
        ],
      );
      assert.deepEqual(mine[0]?.details, {
        host: "hooks.example.test",
        version: 1,
        secret_origin: "generated",
        credential_kinds: "bearer",
      });
      assert.equal(mine[1]?.details.fields, "credentials enabled");
      assert.equal(mine[2]?.details.version, 2);
      const text = JSON.stringify(entries);
      for (const secret of [token, r.json.secret, rot.json.secret]) assert.ok(!text.includes(secret));
      assert.equal((await verifyAuditChain(api.t.db, tenantId)).ok, true);
    });
  });
}
