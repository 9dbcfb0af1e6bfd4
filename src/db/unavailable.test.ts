/**
 * A database that is not there is a retryable DATABASE_UNAVAILABLE, whether
 * nothing listens, the server hangs up, or it never answers; for the migrating
 * open (owner connection) and the runtime open (pool) alike.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, describe, test } from "node:test";
import { TEST_FENCE } from "../../test/support/db.ts";
import { isZenError } from "../core/index.ts";
import { openDatabase } from "./index.ts";

function unavailable(err: unknown): boolean {
  assert.ok(isZenError(err), String(err));
  assert.equal(err.code, "DATABASE_UNAVAILABLE");
  assert.equal(err.retryable, true);
  assert.equal(err.status, 503);
  return true;
}

async function listen(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { server, port: address.port };
}

const urlFor = (port: number) => `postgres://zm_test_app@127.0.0.1:${port}/zenmesh`;

describe("an unreachable postgres", () => {
  const sockets: Socket[] = [];
  const servers: Server[] = [];
  after(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  for (const migrate of [true, false]) {
    const how = migrate ? "migrating" : "runtime";

    test(`a ${how} open fails with DATABASE_UNAVAILABLE when nothing listens`, async () => {
      await assert.rejects(
        openDatabase({ kind: "postgres", url: urlFor(1), fence: TEST_FENCE }, { migrate }),
        unavailable,
      );
    });

    test(`a ${how} open fails with DATABASE_UNAVAILABLE when the server hangs up`, async () => {
      const { server, port } = await listen((socket) => socket.destroy());
      servers.push(server);
      await assert.rejects(
        openDatabase({ kind: "postgres", url: urlFor(port), fence: TEST_FENCE }, { migrate }),
        unavailable,
      );
    });

    test(`a ${how} open fails with DATABASE_UNAVAILABLE when the server never answers`, async () => {
      const { server, port } = await listen((socket) => sockets.push(socket));
      servers.push(server);
      await assert.rejects(
        openDatabase({ kind: "postgres", url: urlFor(port), fence: TEST_FENCE }, { migrate }),
        unavailable,
      );
    });
  }
});
