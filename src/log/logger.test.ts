import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ZenError } from "../core/index.ts";
import { SENSITIVE_KEYS } from "./keys.ts";
import { createLogger } from "./logger.ts";
import { captureLogs } from "./testing.ts";

const CANARY = "CANARY-SECRET-123";

function spellings(key: string): string[] {
  return [key, key.toLowerCase(), key.toUpperCase(), key.charAt(0).toUpperCase() + key.slice(1)];
}

describe("createLogger redaction", () => {
  test("never prints the value of a sensitive key at the top level, in any spelling", () => {
    const { logger, text } = captureLogs();
    for (const key of SENSITIVE_KEYS) {
      for (const k of spellings(key)) logger.info({ [k]: CANARY }, "top");
    }
    assert.ok(!text().includes(CANARY));
    assert.match(text(), /\[redacted\]/);
  });

  test("never prints the value of a sensitive key nested one, two or many levels down", () => {
    const { logger, text, lines } = captureLogs();
    for (const key of SENSITIVE_KEYS) {
      for (const k of spellings(key)) {
        logger.info({ a: { [k]: CANARY } });
        logger.info({ a: { b: { [k]: CANARY } } });
        logger.info({ a: { b: { c: { d: [{ [k]: CANARY }] } } } });
      }
    }
    assert.ok(!text().includes(CANARY));
    assert.equal(lines().length, SENSITIVE_KEYS.length * 4 * 3);
  });

  test("censors compound and plural names of secrets", () => {
    const { logger, text } = captureLogs();
    logger.info({ dbPassword: CANARY, accessToken: CANARY, webhook_secret: CANARY, apiKeys: [CANARY] });
    logger.info({ headers: { "Set-Cookie": [CANARY], "X-Zen-Signature": CANARY, Authorization: CANARY } });
    assert.ok(!text().includes(CANARY));
  });

  test("censors sensitive keys inside class instances and toJSON output", () => {
    class Holder {
      password = CANARY;
      inner = { token: CANARY };
    }
    class Outer {
      holder = { secret: CANARY, apiKey: CANARY };
    }
    const { logger, text } = captureLogs();
    logger.info({ holder: new Holder() });
    logger.info({ outer: new Outer() });
    logger.info({ outer: { holder: { privateKey: CANARY } } });
    logger.info({ deep: { a: { b: { c: new Holder() } } } });
    logger.info({
      j: { toJSON: () => ({ secret: CANARY }) },
      k: new (class {
        toJSON() {
          return { token: CANARY };
        }
      })(),
    });
    logger.info({ u: new URL(`https://u:${CANARY}@example.com/`) });
    assert.ok(!text().includes(CANARY), text());
  });

  test("keeps ordinary metadata", () => {
    const { logger, lines } = captureLogs();
    logger.info({ tenantId: "tnt_1", count: 3, nested: { eventId: "evt_1" } }, "stored");
    const line = JSON.parse(lines()[0] ?? "{}");
    assert.equal(line.tenantId, "tnt_1");
    assert.equal(line.count, 3);
    assert.deepEqual(line.nested, { eventId: "evt_1" });
    assert.equal(line.msg, "stored");
  });

  test("censors secrets in child and grandchild logger bindings", () => {
    const { logger, text } = captureLogs();
    logger.child({ token: CANARY, ctx: { secret: CANARY } }).info("child");
    logger
      .child({ a: 1 })
      .child({ b: { apiKey: CANARY } }, { level: "debug" })
      .info("grandchild");
    assert.ok(!text().includes(CANARY));
  });

  test("masks URL passwords, API keys and bearer tokens in free text", () => {
    const { logger, text } = captureLogs();
    logger.info({ target: `postgres://app:${CANARY}@db/zen` }, `connecting to redis://:${CANARY}@cache`);
    logger.info(`key zm_live_${CANARY.replace(/-/g, "")} used`);
    logger.info({ h: `Bearer ${CANARY}` }, "header %s", `Bearer ${CANARY}`);
    logger.info("values %o", { password: CANARY });
    assert.ok(!text().includes(CANARY), text());
    assert.ok(!text().includes("CANARYSECRET123"));
    assert.match(text(), /postgres:\/\/app:\*\*\*@db\/zen/);
  });

  test("replaces binary data with its size", () => {
    const { logger, lines } = captureLogs();
    logger.info({ chunk: Buffer.from(CANARY) });
    assert.equal(JSON.parse(lines()[0] ?? "{}").chunk, `[binary, ${CANARY.length} bytes]`);
  });

  test("survives circular objects", () => {
    const { logger, text } = captureLogs();
    const a: Record<string, unknown> = { name: "a", secret: CANARY };
    a.self = a;
    logger.info({ a });
    assert.match(text(), /\[circular\]/);
    assert.ok(!text().includes(CANARY));
  });

  test("writes to the given destination at the given level", () => {
    const out: string[] = [];
    const logger = createLogger({
      level: "warn",
      name: "egress",
      destination: { write: (s: string) => void out.push(s) },
    });
    logger.info("dropped");
    logger.warn("kept");
    assert.equal(out.length, 1);
    const line = JSON.parse(out[0] ?? "{}");
    assert.equal(line.name, "egress");
    assert.equal(line.msg, "kept");
  });

  test("refuses an unknown level as a configuration error", () => {
    assert.throws(
      () => createLogger({ level: "loud" }),
      (e: unknown) => e instanceof ZenError && e.code === "CONFIG_INVALID",
    );
  });
});
