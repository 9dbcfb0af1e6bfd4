import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { id, TD, testCa } from "../../test/support/mesh.ts";
import { createRenewingIdentity } from "../identity/index.ts";
import { createInternalClient } from "./client.ts";
import { createInternalServer } from "./server.ts";

describe("certificate renewal under load", () => {
  it("serves a steady stream of requests across several renewals on both sides with zero failures", async () => {
    const { ca } = await testCa();
    let serverRenewals = 0;
    let clientRenewals = 0;
    const serverIdentity = await createRenewingIdentity({
      issue: () => ca.issueSvid({ path: "backend", ttlSeconds: 3 }),
    });
    const clientIdentity = await createRenewingIdentity({
      issue: () => ca.issueSvid({ path: "ingester", ttlSeconds: 3 }),
    });
    serverIdentity.onUpdate(() => serverRenewals++);
    clientIdentity.onUpdate(() => clientRenewals++);
    const server = await createInternalServer({
      identity: serverIdentity,
      trustDomain: TD,
      routes: [
        {
          method: "POST",
          path: "/internal/events",
          allow: [id("ingester")],
          handler: async (req) => ({ status: 200, body: { peer: req.peer.spiffeId } }),
        },
      ],
    });
    const client = createInternalClient({
      identity: clientIdentity,
      trustDomain: TD,
      baseUrl: server.url,
      expectServer: id("backend"),
      timeoutMs: 1000,
    });
    const serverSerials = new Set<string>();
    const failures: string[] = [];
    let ok = 0;
    try {
      const until = Date.now() + 8000;
      const inflight: Promise<void>[] = [];
      let n = 0;
      while (Date.now() < until) {
        const i = n++;
        inflight.push(
          client.request("POST", "/internal/events", { i }).then(
            (r) => {
              if (r.status === 200) ok++;
              else failures.push(`${i}: ${r.status} ${r.body.toString()}`);
              serverSerials.add(r.peer.serial);
            },
            (err: unknown) => {
              failures.push(`${i}: ${String(err)}`);
            },
          ),
        );
        await new Promise((r) => setTimeout(r, 50));
      }
      await Promise.all(inflight);
      assert.deepEqual(failures, []);
      // Every request sent went through; how many a busy machine manages to send is not the point.
      assert.equal(ok, n, `${n - ok} of ${n} requests did not go through`);
      assert.ok(n >= 40, `only ${n} requests were sent in 8 s`);
      assert.ok(serverRenewals >= 3, `server renewed ${serverRenewals} times`);
      assert.ok(clientRenewals >= 3, `client renewed ${clientRenewals} times`);
      assert.ok(serverSerials.size >= 3, `the server presented ${serverSerials.size} certificates`);
    } finally {
      await client.close();
      await server.close();
      await serverIdentity.close();
      await clientIdentity.close();
    }
  });
});
