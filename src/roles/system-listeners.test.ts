import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { describe, test } from "node:test";
import { loadConfig } from "../config/index.ts";
import { parseIpLiteral } from "../deliver/ssrf/ip.ts";
import { systemListenerAt } from "../deliver/ssrf/system-listeners.ts";
import { configuredListeners, createSystemListeners } from "./system-listeners.ts";

const at = (list: Parameters<typeof systemListenerAt>[0], ip: string, port: number) =>
  systemListenerAt(list, parseIpLiteral(ip)!, port);

describe("zenmesh's own listeners, as egress knows them", () => {
  test("the configuration names the API, ingest, metrics, every internal port and the peers' URLs", () => {
    const config = loadConfig({
      env: {
        ZENMESH_DATA_DIR: "/tmp/zm-own",
        ZENMESH_BACKEND_URL: "https://backend.internal:7710",
      },
      argv: [],
    });
    const list = configuredListeners(config);
    assert.deepEqual(
      list.map((l) => `${l.host}:${l.port}`),
      [
        "127.0.0.1:7700",
        "127.0.0.1:7701",
        "127.0.0.1:7709",
        "127.0.0.1:7710",
        "127.0.0.1:7711",
        "127.0.0.1:7712",
        "127.0.0.1:7713",
        "127.0.0.1:7719",
        "backend.internal:7710",
        "backend.internal:7700",
        "backend.internal:7709",
        "backend.internal:7719",
      ],
    );
    assert.ok(at(list, "127.0.0.1", 7700), "the API");
    assert.ok(
      list.some((l) => l.host === "backend.internal" && l.port === 7700),
      "the API on the backend's host, when the backend runs elsewhere",
    );
    const bound = [{ host: "10.1.2.3", port: 7700 }];
    assert.ok(at(bound, "10.1.2.3", 7700), "a listener on its own address");
    assert.ok(at(bound, "::ffff:10.1.2.3", 7700), "in its IPv4-mapped spelling too");
    assert.equal(at(bound, "10.1.2.4", 7700), undefined, "another address on the same port is not ours");
    assert.ok(at(list, "::1", 7712), "a loopback listener is reached on every loopback address");
    assert.equal(at(list, "127.0.0.1", 8080), undefined, "another port on loopback is not ours");
  });

  test("names resolve to addresses, reports replace the previous one, and a listener on every address covers this host's", async () => {
    const config = loadConfig({
      env: { ZENMESH_DATA_DIR: "/tmp/zm-own", ZENMESH_BACKEND_URL: "https://backend.internal:7710" },
      argv: [],
    });
    const own = createSystemListeners(config);
    const failed = await own.resolveNames(async (h) => {
      if (h === "backend.internal") return [{ address: "10.9.9.9", family: 4 }];
      throw new Error("no such name");
    }, 1000);
    assert.deepEqual(failed, []);
    assert.ok(at(own.list(), "10.9.9.9", 7710));
    own.report(["http://127.0.0.1:40001", "https://[::]:40002"]);
    assert.ok(at(own.list(), "127.0.0.1", 40001));
    own.report(["https://[::]:40002"]);
    assert.equal(at(own.list(), "127.0.0.1", 40001), undefined, "a report replaces the one before");
    assert.ok(at(own.list(), "127.0.0.5", 40002));
    const mine = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && !a.internal && a.family === "IPv4");
    if (mine) assert.ok(at(own.list(), mine.address, 40002), `this host's ${mine.address}`);
    assert.equal(at(own.list(), "203.0.113.7", 40002), undefined, "an address of another host");
  });
});
