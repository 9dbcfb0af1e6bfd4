import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { captureLogs } from "./testing.ts";

const CANARY = "CANARY-SECRET-123";

describe("logger as Fastify's loggerInstance", () => {
  test("request logs carry method, path, id and status, never query, headers or body", async () => {
    const { logger, lines, text } = captureLogs();
    const app = Fastify({ loggerInstance: logger as FastifyBaseLogger, genReqId: () => "corr_test" });
    app.post("/e/:source", async (req) => {
      req.log.info({ body: req.body }, "received");
      return { ok: true };
    });
    try {
      const res = await app.inject({
        method: "POST",
        url: `/e/src_1?token=${CANARY}`,
        headers: {
          authorization: `Bearer ${CANARY}`,
          cookie: `s=${CANARY}`,
          "content-type": "application/json",
        },
        payload: { secret: CANARY },
      });
      assert.equal(res.statusCode, 200);
    } finally {
      await app.close();
    }
    assert.ok(!text().includes(CANARY), text());
    const parsed = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    const incoming = parsed.find((l) => l.msg === "incoming request");
    assert.deepEqual(incoming?.req, {
      method: "POST",
      path: "/e/src_1",
      correlationId: "corr_test",
      remoteAddress: "127.0.0.1",
    });
    const done = parsed.find((l) => l.msg === "request completed");
    assert.deepEqual(done?.res, { statusCode: 200 });
  });
});
