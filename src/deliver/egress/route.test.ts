import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { errorCode, rawRequest, staticIdentity, TD, testCa } from "../../../test/support/mesh.ts";
import { systemClock } from "../../core/index.ts";
import type { Svid } from "../../identity/index.ts";
import { captureLogs } from "../../log/testing.ts";
import { createInternalClient, createInternalServer, type InternalServer } from "../../mesh/index.ts";
import { generateBoxKeyPair } from "../box.ts";
import { emptyBatch } from "../types.ts";
import { type RunningEgress, startEgress } from "./index.ts";

describe("egress's dispatch route", () => {
  let pki: Awaited<ReturnType<typeof testCa>>;
  let egress: RunningEgress;
  let server: InternalServer;

  before(async () => {
    pki = await testCa();
    const identity = staticIdentity(await pki.issue("egress"));
    const backend = createInternalClient({
      identity,
      trustDomain: TD,
      baseUrl: "https://127.0.0.1:9",
      expectServer: `spiffe://${TD}/backend`,
    });
    egress = startEgress({
      backend: () => backend,
      box: generateBoxKeyPair(),
      allowCidrs: [],
      trustDomain: TD,
      logger: captureLogs().logger,
      clock: systemClock,
      userAgent: "zenmesh/test",
      systemListeners: () => [],
    });
    server = await createInternalServer({
      identity,
      trustDomain: TD,
      routes: egress.routes,
      host: "127.0.0.1",
      port: 0,
    });
  });
  after(async () => {
    await server.close();
    await egress.close();
  });

  const call = (svid: Svid | undefined, body = JSON.stringify(emptyBatch())) =>
    rawRequest(server.url, {
      method: "POST",
      path: "/internal/dispatch",
      svid,
      ca: pki.ca.bundlePem(),
      body,
    });

  test("admits the backend and the ingester only", async () => {
    for (const role of ["backend", "ingester"]) {
      const r = await call(await pki.issue(role));
      assert.equal(r.status, 202, `${role}: ${r.body}`);
    }
    for (const role of ["egress", "bff", "stranger", "agent/c1"]) {
      const r = await call(await pki.issue(role));
      assert.equal(r.status, 403, role);
      assert.equal(errorCode(r.body), "PEER_NOT_ALLOWED");
    }
    await assert.rejects(call(undefined), "no certificate, no handshake");
    const other = await testCa();
    await assert.rejects(
      call(await other.issue("backend")),
      "another CA's backend is refused in the handshake",
    );
  });

  test("refuses what is not a dispatch batch", async () => {
    const backend = await pki.issue("backend");
    for (const body of [
      "{",
      "[]",
      "null",
      JSON.stringify({ jobs: "x" }),
      JSON.stringify({ jobs: new Array(5001).fill({}), events: {}, destinations: {} }),
    ]) {
      const r = await call(backend, body);
      assert.ok(r.status === 400, `${body.slice(0, 20)} -> ${r.status}`);
    }
  });
});
