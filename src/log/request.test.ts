import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { requestSerializers } from "./request.ts";
import { captureLogs } from "./testing.ts";

const CANARY = "CANARY-SECRET-123";

describe("request serializers", () => {
  test("log method, path, correlation id and address, never the query string or headers", () => {
    const req = {
      method: "POST",
      url: `/e/src_123?token=${CANARY}#frag`,
      id: "corr_abc",
      ip: "203.0.113.9",
      headers: { authorization: `Bearer ${CANARY}`, cookie: CANARY },
      body: { secret: CANARY },
      query: { token: CANARY },
    };
    assert.deepEqual(requestSerializers.req(req), {
      method: "POST",
      path: "/e/src_123",
      correlationId: "corr_abc",
      remoteAddress: "203.0.113.9",
    });
  });

  test("reads a raw node request's socket address", () => {
    const raw = {
      method: "GET",
      url: "/healthz",
      socket: { remoteAddress: "::1" },
      headers: { cookie: CANARY },
    };
    assert.deepEqual(requestSerializers.req(raw), { method: "GET", path: "/healthz", remoteAddress: "::1" });
  });

  test("logs only the status code of a response", () => {
    const res = { statusCode: 201, headers: { "set-cookie": CANARY }, payload: CANARY };
    assert.deepEqual(requestSerializers.res(res), { statusCode: 201 });
  });

  test("are used by the logger for req and res", () => {
    const { logger, text } = captureLogs();
    logger.info(
      {
        req: { method: "GET", url: `/v1/events?api_key=${CANARY}`, headers: { cookie: CANARY } },
        res: { statusCode: 200, headers: { "set-cookie": CANARY } },
      },
      "request completed",
    );
    assert.ok(!text().includes(CANARY));
    assert.match(text(), /"path":"\/v1\/events"/);
  });
});
