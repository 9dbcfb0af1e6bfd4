/**
 * With `sslmode=verify-full`, a PostgreSQL whose certificate does not verify,
 * or one that will not speak TLS at all, is refused with DATABASE_TLS_FAILED
 * (not retryable: a wrong CA, a wrong name or someone in between), never
 * taken for a database that is merely away, and never connected to in plain.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TEST_FENCE } from "../../test/support/db.ts";
import {
  createTestTlsCa,
  startTlsPostgres,
  type TestTlsCa,
  type TlsPostgres,
} from "../../test/support/tls-services.ts";
import { isZenError } from "../core/index.ts";
import { openDatabase } from "./index.ts";

function tlsFailed(err: unknown): boolean {
  assert.ok(isZenError(err), String(err));
  assert.equal(err.code, "DATABASE_TLS_FAILED");
  assert.equal(err.retryable, false);
  assert.match(err.message, /ZENMESH_DATABASE_CA_FILE/);
  return true;
}

/** A URL verified against this CA file (what ZENMESH_DATABASE_CA_FILE does, see withRootCert). */
function withRoot(url: string, caFile: string): string {
  const u = new URL(url);
  u.searchParams.set("sslrootcert", caFile);
  return u.toString();
}

describe("a PostgreSQL that fails verify-full", () => {
  let dir: string;
  let ca: TestTlsCa;
  let other: TestTlsCa;
  let db: TlsPostgres;
  let plain: Server;
  let plainPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zm-db-tls-"));
    ca = await createTestTlsCa(dir);
    other = await createTestTlsCa(mkdtempSync(join(dir, "other-")));
    db = await startTlsPostgres(ca);
    // Answers PostgreSQL's SSLRequest with 'N' (no TLS here), as a server without ssl does.
    plain = createServer((s) => s.once("data", () => s.end("N")));
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    plainPort = (plain.address() as { port: number }).port;
  });
  after(async () => {
    plain?.close();
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("opens it with the CA that issued its certificate", async () => {
    const opened = await openDatabase(
      {
        kind: "postgres",
        url: withRoot(db.runtimeUrl, ca.file),
        ownerUrl: withRoot(db.ownerUrl, ca.file),
        fence: TEST_FENCE,
      },
      { migrate: true },
    );
    await opened.close();
  });

  for (const migrate of [true, false]) {
    const how = migrate ? "a migrating" : "a runtime";
    test(`${how} open refuses a certificate another CA issued`, async () => {
      await assert.rejects(
        openDatabase(
          {
            kind: "postgres",
            url: withRoot(db.runtimeUrl, other.file),
            ownerUrl: withRoot(db.ownerUrl, other.file),
            fence: TEST_FENCE,
          },
          { migrate },
        ),
        tlsFailed,
      );
    });
  }

  test("refuses a server that will not speak TLS, instead of going on in plain", async () => {
    const u = new URL(db.runtimeUrl);
    u.port = String(plainPort);
    await assert.rejects(
      openDatabase({ kind: "postgres", url: u.toString(), fence: TEST_FENCE }, { migrate: false }),
      tlsFailed,
    );
  });
});
