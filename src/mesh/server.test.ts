import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { errorCode, id, rawRequest, staticIdentity, TD, testCa } from "../../test/support/mesh.ts";
import type { Svid } from "../identity/index.ts";
import { captureLogs } from "../log/testing.ts";
import { createInternalClient } from "./client.ts";
import { createInternalServer, type InternalRoute, type InternalServer } from "./server.ts";

type Ca = Awaited<ReturnType<typeof testCa>>;

function routes(): InternalRoute[] {
  const echo: InternalRoute["handler"] = async (req) => ({
    status: 200,
    body: { peer: req.peer.spiffeId, bytes: req.body.byteLength },
  });
  return [
    { method: "POST", path: "/internal/events", allow: [id("ingester")], handler: echo },
    { method: "GET", path: "/internal/ping", allow: [id("ingester"), id("egress")], handler: echo },
    { method: "GET", path: "/internal/agents", allow: [`spiffe://${TD}/agent/*`], handler: echo },
  ];
}

describe("internal server: who gets in", () => {
  let ca: Ca;
  let other: Ca;
  let server: InternalServer;
  const svids: Record<string, Svid> = {};
  const logs = captureLogs();

  before(async () => {
    ca = await testCa();
    other = await testCa();
    for (const p of ["backend", "ingester", "egress", "bff", "agent/c1"]) svids[p] = await ca.issue(p);
    svids.foreignIngester = await other.issue("ingester");
    svids.expiredIngester = await ca.issueExpired("ingester");
    server = await createInternalServer({
      identity: staticIdentity(svids.backend as Svid),
      trustDomain: TD,
      routes: routes(),
      logger: logs.logger,
    });
  });
  after(() => server.close());

  const call = (path: string, method: string, svid: Svid | undefined) =>
    rawRequest(server.url, {
      path,
      method,
      svid,
      ca: ca.ca.bundlePem(),
      body: method === "POST" ? "{}" : undefined,
    });

  const matrix: Array<{ path: string; method: string; allowed: string[]; denied: string[] }> = [
    {
      path: "/internal/events",
      method: "POST",
      allowed: ["ingester"],
      denied: ["egress", "bff", "agent/c1"],
    },
    { path: "/internal/ping", method: "GET", allowed: ["ingester", "egress"], denied: ["bff", "agent/c1"] },
    { path: "/internal/agents", method: "GET", allowed: ["agent/c1"], denied: ["ingester", "backend"] },
  ];

  for (const row of matrix) {
    describe(`${row.method} ${row.path}`, () => {
      it("refuses a client without a certificate in the handshake", async () => {
        await assert.rejects(call(row.path, row.method, undefined));
      });

      it("refuses a certificate from another CA in the handshake", async () => {
        await assert.rejects(call(row.path, row.method, svids.foreignIngester));
      });

      it("refuses an expired SVID in the handshake", async () => {
        await assert.rejects(call(row.path, row.method, svids.expiredIngester));
      });

      for (const who of row.denied) {
        it(`answers 403 PEER_NOT_ALLOWED to a valid SVID of ${who}`, async () => {
          const r = await call(row.path, row.method, svids[who]);
          assert.equal(r.status, 403);
          assert.equal(errorCode(r.body), "PEER_NOT_ALLOWED");
          assert.match(JSON.parse(r.body).error.correlation_id, /^corr_/);
        });
      }

      for (const who of row.allowed) {
        it(`admits ${who} and hands its SPIFFE ID to the handler`, async () => {
          const r = await call(row.path, row.method, svids[who]);
          assert.equal(r.status, 200);
          assert.equal(JSON.parse(r.body).peer, id(who));
        });
      }
    });
  }

  it("answers 404 for an unknown path and 405 for a wrong method", async () => {
    const nf = await call("/internal/nope", "GET", svids.ingester);
    assert.equal(nf.status, 404);
    assert.equal(errorCode(nf.body), "NOT_FOUND");
    const na = await call("/internal/events", "GET", svids.ingester);
    assert.equal(na.status, 405);
  });

  it("answers 413 to a body over the limit", async () => {
    const r = await rawRequest(server.url, {
      path: "/internal/events",
      method: "POST",
      svid: svids.ingester,
      ca: ca.ca.bundlePem(),
      body: "x".repeat(1024 * 1024 + 1),
    });
    assert.equal(r.status, 413);
    assert.equal(errorCode(r.body), "PAYLOAD_TOO_LARGE");
  });

  it("gives a plain-TCP probe no HTTP response", async () => {
    const port = new URL(server.url).port;
    const got = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const s = connect(Number(port), "127.0.0.1", () => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      s.on("data", (c: Buffer) => chunks.push(c));
      s.on("error", () => {});
      s.on("close", () => resolve(Buffer.concat(chunks)));
      s.setTimeout(3000, () => s.destroy());
    });
    assert.equal(got.toString("latin1").includes("HTTP/"), false);
  });

  it("never logs keys or bodies", () => {
    const text = logs.text();
    for (const svid of Object.values(svids)) assert.equal(text.includes(svid.keyPem.slice(40, 80)), false);
    assert.equal(text.includes("xxxxxxxx"), false);
  });

  describe("internal client", () => {
    it("talks to the expected server and sees its SPIFFE ID on the response", async () => {
      const client = createInternalClient({
        identity: staticIdentity(svids.ingester as Svid),
        trustDomain: TD,
        baseUrl: server.url,
        expectServer: id("backend"),
      });
      try {
        const r = await client.request("POST", "/internal/events", { hello: "world" });
        assert.equal(r.status, 200);
        assert.deepEqual(r.json(), { peer: id("ingester"), bytes: 17 });
        assert.equal(r.peer.spiffeId, id("backend"));
      } finally {
        await client.close();
      }
    });

    it("refuses a server presenting the wrong SPIFFE ID", async () => {
      const client = createInternalClient({
        identity: staticIdentity(svids.ingester as Svid),
        trustDomain: TD,
        baseUrl: server.url,
        expectServer: [id("egress"), `spiffe://${TD}/agent/*`],
      });
      try {
        await assert.rejects(client.request("GET", "/internal/ping"), { code: "PEER_NOT_ALLOWED" });
      } finally {
        await client.close();
      }
    });

    it("refuses a server whose certificate comes from another CA", async () => {
      const impostor = await createInternalServer({
        identity: staticIdentity(await other.issue("backend")),
        trustDomain: TD,
        routes: routes(),
      });
      const client = createInternalClient({
        identity: staticIdentity(svids.ingester as Svid),
        trustDomain: TD,
        baseUrl: impostor.url,
        expectServer: id("backend"),
      });
      try {
        await assert.rejects(client.request("GET", "/internal/ping"), { code: "UNAVAILABLE" });
      } finally {
        await client.close();
        await impostor.close();
      }
    });

    it("refuses allow-lists outside the trust domain at construction", () => {
      assert.throws(() =>
        createInternalClient({
          identity: staticIdentity(svids.ingester as Svid),
          trustDomain: TD,
          baseUrl: server.url,
          expectServer: "spiffe://elsewhere/backend",
        }),
      );
      assert.throws(() =>
        createInternalClient({
          identity: staticIdentity(svids.ingester as Svid),
          trustDomain: TD,
          baseUrl: server.url.replace("https:", "http:"),
          expectServer: id("backend"),
        }),
      );
    });
  });
});
