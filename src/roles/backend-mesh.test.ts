/**
 * The backend's real internal API: every route refuses a client without a
 * certificate, with one from another CA, with an expired SVID, and with a
 * valid SVID of a workload it does not admit; it serves the ones it does.
 * Then the production bootstrap: join token → SVID → own hop key → signed
 * heartbeat → renewal by CSR, and what each refuses.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { errorCode, id, rawRequest, staticIdentity, TD, testCa } from "../../test/support/mesh.ts";
import { listAudit, SYSTEM_CHAIN } from "../audit/index.ts";
import { loadConfig } from "../config/index.ts";
import { systemClock } from "../core/index.ts";
import { createJoinToken, createKeyAndCsr, type Svid } from "../identity/index.ts";
import { captureLogs } from "../log/testing.ts";
import {
  createHopSigner,
  createInternalClient,
  deriveHopKey,
  deriveMasterHopKey,
  HOP_SIGNATURE_HEADER,
  SYSTEM_HOP_TENANT,
  systemHopKeyId,
} from "../mesh/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../zenlock/index.ts";
import { type BackendDelivery, startBackendDelivery } from "./backend-deliver.ts";
import { type BackendMesh, startBackendMesh } from "./backend-mesh.ts";
import { type JoinServer, joinWithToken, startJoinServer } from "./join.ts";
import type { Services } from "./services.ts";

for (const kind of DRIVERS) {
  describe(`the backend's internal API on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let dir: string;
    let pki: Awaited<ReturnType<typeof testCa>>;
    let mesh: BackendMesh;
    let joinServer: JoinServer;
    let svc: Services;
    let delivery: BackendDelivery;
    const logs = captureLogs();

    before(async () => {
      t = await freshDatabase(kind);
      dir = mkdtempSync(join(tmpdir(), "zm-bm-"));
      pki = await testCa();
      const masterKeys = parseMasterKeyRing(generateMasterKey(), "test");
      const config = loadConfig({ env: { ZENMESH_DATA_DIR: dir, ZENMESH_TRUST_DOMAIN: TD }, argv: [] });
      svc = {
        config,
        masterKeys,
        db: t.db,
        zenlock: new ZenLock({ masterKeys }),
        tenancy: {
          db: t.db,
          zenlock: new ZenLock({ masterKeys }),
          clock: systemClock,
          apiKeyEnvironment: "test",
          sessions: config.sessions,
        },
        databaseWarnings: [],
        close: async () => {},
      };
      const identity = staticIdentity(await pki.issue("backend"));
      delivery = startBackendDelivery(svc, config, logs.logger, identity);
      mesh = await startBackendMesh(svc, config, logs.logger, identity, { port: 0, ca: pki.ca, delivery });
      joinServer = await startJoinServer({
        svc,
        ca: pki.ca,
        identity,
        logger: logs.logger,
        host: "127.0.0.1",
        port: 0,
        svidTtlSeconds: 600,
      });
    });

    after(async () => {
      await joinServer?.close();
      await mesh?.close();
      await delivery?.close();
      await t?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test("every route refuses no certificate, another CA, an expired SVID and a workload it does not admit", async () => {
      const other = await testCa();
      const foreign = await other.issue("ingester");
      const expired = await pki.issueExpired("ingester");
      const stranger = await pki.issue("stranger");
      assert.deepEqual(
        mesh.routes.map((r) => `${r.method} ${r.path}`).sort(),
        [
          "GET /internal/health",
          "GET /internal/hop-key",
          "GET /internal/sources",
          "POST /internal/deliveries/release",
          "POST /internal/delivery-results",
          "POST /internal/events",
          "POST /internal/heartbeat",
          "POST /internal/operator",
          "POST /internal/svid",
        ],
        "a new internal route needs its place in this matrix",
      );
      for (const route of mesh.routes) {
        const call = (svid: Svid | undefined) =>
          rawRequest(mesh.server.url, {
            method: route.method,
            path: route.path,
            svid,
            ca: pki.ca.bundlePem(),
            body: "{}",
          });
        const what = `${route.method} ${route.path}`;
        await assert.rejects(call(undefined), `${what} without a certificate`);
        await assert.rejects(call(foreign), `${what} with another CA's certificate`);
        const late = await call(expired).catch(() => undefined);
        assert.ok(late === undefined || late.status === 401, `${what} with an expired SVID: ${late?.status}`);
        const s = await call(stranger);
        assert.equal(s.status, 403, `${what} for a workload it does not admit`);
        assert.equal(errorCode(s.body), "PEER_NOT_ALLOWED");
        for (const allowed of route.allow) {
          const path = allowed.slice(`spiffe://${TD}/`.length);
          const ok = await call(await pki.issue(path));
          // Admitted: the identity passes; a signed route then asks for X-Zen-Signature (401 HOP_*).
          const passedIdentity =
            ![401, 403, 404].includes(ok.status) ||
            (ok.status === 401 && /^HOP_/.test(errorCode(ok.body) ?? ""));
          assert.ok(passedIdentity, `${what} as ${path}: ${ok.status} ${ok.body}`);
        }
      }
    });

    test("a role joins with a one-time token, fetches its own hop key, heartbeats signed and renews by CSR", async () => {
      const { token } = await createJoinToken(t.db, {
        workload: "ingester",
        createdBy: "test",
        correlationId: "corr-join-test",
        clock: systemClock,
      });
      const joinUrl = joinServer.url;
      const svid = await joinWithToken({ joinUrl, token, bundlePem: pki.ca.bundlePem(), trustDomain: TD });
      assert.equal(svid.spiffeId, id("ingester"));
      await assert.rejects(
        joinWithToken({ joinUrl, token, bundlePem: pki.ca.bundlePem(), trustDomain: TD }),
        /refused the join \(401\)/,
        "a join token is single use",
      );

      const client = createInternalClient({
        identity: staticIdentity(svid),
        trustDomain: TD,
        baseUrl: mesh.server.url,
        expectServer: id("backend"),
      });
      try {
        const hk = (await client.request("GET", "/internal/hop-key")).json<{ key_id: string; key: string }>();
        assert.equal(hk.key_id, "_system/ingester");

        const signer = createHopSigner({ keyId: hk.key_id, key: Buffer.from(hk.key, "base64") });
        const body = JSON.stringify({ pid: 1, version: "t", started_at: "now", failures: 0 });
        const header = signer.sign("POST", "/internal/heartbeat", Buffer.from(body));
        const first = await rawRequest(mesh.server.url, {
          method: "POST",
          path: "/internal/heartbeat",
          svid,
          ca: pki.ca.bundlePem(),
          body,
          headers: { [HOP_SIGNATURE_HEADER]: header, "content-type": "application/json" },
        });
        assert.equal(first.status, 204);
        const replay = await rawRequest(mesh.server.url, {
          method: "POST",
          path: "/internal/heartbeat",
          svid,
          ca: pki.ca.bundlePem(),
          body,
          headers: { [HOP_SIGNATURE_HEADER]: header, "content-type": "application/json" },
        });
        assert.equal(replay.status, 401);
        assert.equal(errorCode(replay.body), "HOP_REPLAYED");
        const unsigned = await client.request("POST", "/internal/heartbeat", { pid: 1 });
        assert.equal(unsigned.status, 401, "heartbeats must be signed");

        const { csrPem } = await createKeyAndCsr();
        const renewed = await client.request("POST", "/internal/svid", { csr: csrPem });
        assert.equal(renewed.status, 200, renewed.body.toString());
        const chain = renewed.json<{ cert_chain_pem: string }>().cert_chain_pem;
        assert.ok(chain.includes("BEGIN CERTIFICATE"));
      } finally {
        await client.close();
      }
      const audited = await t.db.withTenant(SYSTEM_CHAIN, (tx) => listAudit(tx, { limit: 100 }));
      const actions = audited.map((a) => `${a.action}:${a.outcome}`);
      assert.ok(actions.includes("join_token.redeem:success"), actions.join(" "));
      assert.ok(actions.includes("join_token.redeem:failure"), actions.join(" "));
      assert.ok(actions.includes("hop.rejected:denied"), actions.join(" "));
    });

    test("refuses a hop signed with another workload's key, even when the signature verifies", async () => {
      const egressKey = await (async () => {
        const c = createInternalClient({
          identity: staticIdentity(await pki.issue("egress")),
          trustDomain: TD,
          baseUrl: mesh.server.url,
          expectServer: id("backend"),
        });
        try {
          return (await c.request("GET", "/internal/hop-key")).json<{ key_id: string; key: string }>();
        } finally {
          await c.close();
        }
      })();
      const client = createInternalClient({
        identity: staticIdentity(await pki.issue("ingester")),
        trustDomain: TD,
        baseUrl: mesh.server.url,
        expectServer: id("backend"),
        hopSigner: createHopSigner({ keyId: egressKey.key_id, key: Buffer.from(egressKey.key, "base64") }),
      });
      try {
        const r = await client.request("POST", "/internal/heartbeat", { pid: 1 });
        assert.equal(r.status, 403);
      } finally {
        await client.close();
      }
    });

    test("every signed route refuses a hop signed with another workload's key, even when it verifies", async () => {
      const hopMaster = deriveMasterHopKey(svc.masterKeys);
      const signerFor = (role: string) =>
        createHopSigner({
          keyId: systemHopKeyId(role),
          key: deriveHopKey(hopMaster, SYSTEM_HOP_TENANT, role),
        });
      const roles = ["ingester", "egress", "bff"];
      const svids = new Map<string, Svid>();
      for (const role of roles) svids.set(role, await pki.issue(role));
      const call = (route: { method: string; path: string }, role: string, header: string | undefined) =>
        rawRequest(mesh.server.url, {
          method: route.method,
          path: route.path,
          svid: svids.get(role),
          ca: pki.ca.bundlePem(),
          body: route.method === "GET" ? "" : "{}",
          headers: header === undefined ? {} : { [HOP_SIGNATURE_HEADER]: header },
        });
      let checked = 0;
      for (const route of mesh.routes) {
        for (const allowed of route.allow) {
          const caller = allowed.slice(`spiffe://${TD}/`.length);
          if (!roles.includes(caller)) continue;
          // A signed route answers an unsigned hop with 401 HOP_SIGNATURE_INVALID; the others are out of scope.
          const unsigned = await call(route, caller, undefined);
          if (!(unsigned.status === 401 && errorCode(unsigned.body) === "HOP_SIGNATURE_INVALID")) continue;
          for (const other of roles.filter((r) => r !== caller)) {
            const body = route.method === "GET" ? "" : "{}";
            const header = signerFor(other).sign(route.method, route.path, Buffer.from(body));
            const r = await call(route, caller, header);
            const what = `${route.method} ${route.path} as ${caller} signed with ${other}'s key`;
            assert.equal(r.status, 403, `${what}: ${r.status} ${r.body}`);
            assert.equal(errorCode(r.body), "HOP_KEY_FOREIGN", what);
            checked++;
          }
        }
      }
      // /internal/events, /internal/sources, /internal/deliveries/release (ingester), /internal/delivery-results
      // (egress) and /internal/heartbeat (all three): every one of them, each with both other keys.
      assert.equal(checked, 2 * (3 + 1 + 3), "the signed routes the matrix lists were all probed");
      const audited = await t.db.withTenant(SYSTEM_CHAIN, (tx) => listAudit(tx, { limit: 500 }));
      assert.ok(
        audited.some((a) => a.action === "hop.rejected" && a.details?.reason === "foreign_key"),
        "a hop signed with another workload's key is audited",
      );
    });

    test("a join token names the workload: a CSR cannot ask for another identity", async () => {
      const { token } = await createJoinToken(t.db, {
        workload: "bff",
        createdBy: "test",
        correlationId: "corr-join-test-2",
        clock: systemClock,
      });
      const svid = await joinWithToken({
        joinUrl: joinServer.url,
        token,
        bundlePem: pki.ca.bundlePem(),
        trustDomain: TD,
      });
      assert.equal(svid.spiffeId, id("bff"));
    });

    test("the join endpoint checks the backend's identity, not its hostname", async () => {
      const other = await testCa();
      await assert.rejects(
        joinWithToken({
          joinUrl: joinServer.url,
          token: "zmjt_x",
          bundlePem: other.ca.bundlePem(),
          trustDomain: TD,
        }),
        /could not reach the backend's join endpoint/,
      );
    });
  });
}
