import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ZenError } from "../core/index.ts";
import { captureLogs } from "./testing.ts";

const CANARY = "CANARY-SECRET-123";

function lastLine(lines: string[]): Record<string, unknown> {
  return JSON.parse(lines.at(-1) ?? "{}");
}

describe("error serializer", () => {
  test("keeps type, code, message and stack of a ZenError", () => {
    const { logger, lines } = captureLogs();
    logger.error({ err: new ZenError("CONFIG_INVALID", { message: "bad port", details: { v: CANARY } }) });
    const err = lastLine(lines()).err as Record<string, unknown>;
    assert.equal(err.type, "ZenError");
    assert.equal(err.code, "CONFIG_INVALID");
    assert.equal(err.message, "bad port");
    assert.match(String(err.stack), /bad port/);
    assert.equal(err.details, undefined);
    assert.ok(!lines().join("").includes(CANARY));
  });

  test("serializes an error passed as the first argument", () => {
    const { logger, lines } = captureLogs();
    logger.error(Object.assign(new Error("boom"), { code: "E_BOOM" }));
    const line = lastLine(lines());
    assert.equal(line.msg, "boom");
    assert.deepEqual(
      {
        code: (line.err as Record<string, unknown>).code,
        message: (line.err as Record<string, unknown>).message,
      },
      { code: "E_BOOM", message: "boom" },
    );
  });

  test("drops causes, object fields, secret-named fields and driver data fields", () => {
    const { logger, text } = captureLogs();
    const err = Object.assign(new Error("insert failed", { cause: { body: CANARY } }), {
      code: "23505",
      detail: `Key (email)=(${CANARY}) already exists.`,
      request: { headers: { authorization: CANARY } },
      token: CANARY,
      status: 409,
    });
    logger.error({ err }, "write failed");
    logger.error({ nested: { error: err } }, "nested");
    assert.ok(!text().includes(CANARY), text());
    assert.match(text(), /"code":"23505"/);
    assert.match(text(), /"status":409/);
  });

  test("drops the input that JSON.parse quotes in its message", () => {
    const { logger, text } = captureLogs();
    try {
      JSON.parse(`{"card": ${CANARY}}`);
    } catch (err) {
      logger.warn({ err }, "bad body");
    }
    assert.ok(!text().includes(CANARY), text());
    assert.match(text(), /is not valid JSON/);
  });
});
