import assert from "node:assert/strict";
import { Agent } from "node:https";
import { after, before, describe, it } from "node:test";
import { connect, type TLSSocket } from "node:tls";
import { errorCode, id, rawRequest, staticIdentity, TD, testCa } from "../../test/support/mesh.ts";
import type { Svid } from "../identity/index.ts";
import { createInternalServer, type InternalRoute, type InternalServer } from "./server.ts";

type Ca = Awaited<ReturnType<typeof testCa>>;

/**
 * A client that keeps TLS sessions (Node's default agent settings) must not
 * be able to carry one identity's admission over to another: the server
 * resumes no sessions, and checks the peer on every request anyway.
 */
describe("internal server with a session-caching client", () => {
  let ca: Ca;
  let server: InternalServer;
  const svids: Record<string, Svid> = {};

  before(async () => {
    ca = await testCa();
    for (const p of ["backend", "ingester", "egress", "bff"]) svids[p] = await ca.issue(p);
    const echo: InternalRoute["handler"] = async (req) => ({
      status: 200,
      body: { peer: req.peer.spiffeId },
    });
    server = await createInternalServer({
      identity: staticIdentity(svids.backend as Svid),
      trustDomain: TD,
      routes: [
        { method: "POST", path: "/internal/events", allow: [id("ingester")], handler: echo },
        { method: "GET", path: "/internal/ping", allow: [id("ingester"), id("egress")], handler: echo },
      ],
    });
  });
  after(() => server.close());

  const matrix = [
    { path: "/internal/events", method: "POST", right: "ingester", wrong: ["egress", "bff"] },
    { path: "/internal/ping", method: "GET", right: "egress", wrong: ["bff"] },
  ];

  for (const row of matrix) {
    it(`${row.method} ${row.path}: refuses the wrong identity on every request after the right one connected`, async () => {
      // Default maxCachedSessions: the agent would offer cached sessions if the server issued any.
      const agent = new Agent({ keepAlive: true });
      try {
        const send = (who: string) =>
          rawRequest(server.url, {
            path: row.path,
            method: row.method,
            svid: svids[who],
            ca: ca.ca.bundlePem(),
            agent,
            body: row.method === "POST" ? "{}" : undefined,
          });
        for (let round = 0; round < 3; round++) {
          const ok = await send(row.right);
          assert.equal(ok.status, 200);
          assert.equal(ok.reused, false);
          for (const who of row.wrong) {
            const denied = await send(who);
            assert.equal(denied.status, 403, `${who} in round ${round}`);
            assert.equal(errorCode(denied.body), "PEER_NOT_ALLOWED");
            assert.equal(denied.reused, false);
          }
        }
      } finally {
        agent.destroy();
      }
    });
  }

  it("resumes no TLS session, even when the client offers one from an earlier handshake", async () => {
    const port = Number(new URL(server.url).port);
    const handshake = (svid: Svid, session?: Buffer) =>
      new Promise<{ reused: boolean; session: Buffer | undefined }>((resolve, reject) => {
        let saved: Buffer | undefined;
        let reused = true;
        const s: TLSSocket = connect({
          host: "127.0.0.1",
          port,
          ca: ca.ca.bundlePem(),
          cert: svid.certChainPem,
          key: svid.keyPem,
          checkServerIdentity: () => undefined,
          ...(session === undefined ? {} : { session }),
        });
        s.on("session", (sess: Buffer) => {
          saved = sess;
        });
        s.on("secureConnect", () => {
          reused = s.isSessionReused();
          s.write("GET /internal/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        });
        s.on("data", () => {});
        s.on("error", reject);
        s.on("close", () => resolve({ reused, session: saved }));
      });
    const first = await handshake(svids.ingester as Svid);
    assert.ok(first.session, "the client got a session to offer");
    const again = await handshake(svids.ingester as Svid, first.session);
    assert.equal(again.reused, false);
    const other = await handshake(svids.bff as Svid, first.session);
    assert.equal(other.reused, false);
  });
});
