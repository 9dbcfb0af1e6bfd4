/**
 * `zenmesh up` on its embedded default, a PostgreSQL server it runs from the
 * data dir: the backend holds the runtime login only, a kill -9 of the server
 * is restarted by the supervisor, and a kill -9 of the supervisor leaves
 * nothing that blocks the next `zenmesh up` on the same dir (no stale pid
 * file, no orphaned server), with every acknowledged event still there.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ANY_PORTS } from "../support/ports.ts";
import {
  alive,
  BIN,
  postmastersOf,
  type Source,
  startZenmesh,
  until,
  type Zenmesh,
} from "../support/zenmesh-up.ts";

function databasePids(z: Zenmesh): number[] {
  return [...z.output().matchAll(/^\s+database\s+running\s+pid (\d+)/gm)].map((m) => Number(m[1]));
}

async function eventThere(api: string, key: string, projectId: string, id: string): Promise<boolean> {
  const r = await fetch(`${api}/v1/projects/${projectId}/events/${id}`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(10_000),
  });
  await r.arrayBuffer();
  return r.status === 200;
}

async function accepted(z: Zenmesh, source: Source, note: string): Promise<string> {
  return until(`a webhook (${note}) accepted`, async () => {
    const r = await z.sendGithub(source, JSON.stringify({ ref: "refs/heads/main", note }));
    return r.status === 202 ? r.id : undefined;
  });
}

describe("zenmesh up on the embedded PostgreSQL server", { timeout: 240_000 }, () => {
  test("refuses a 0.1 data dir holding a PGlite database, writing nothing into it", () => {
    const dir = mkdtempSync(join(tmpdir(), "zm-pglite-"));
    try {
      mkdirSync(join(dir, "pgdata"));
      writeFileSync(join(dir, "pgdata", "PG_VERSION"), "17\n");
      const r = spawnSync(process.execPath, [BIN, "up", "--data-dir", dir], {
        encoding: "utf8",
        env: { ...process.env, ...ANY_PORTS, ZENMESH_LOG_LEVEL: "warn" },
        timeout: 60_000,
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /EMBEDDED_DB_PGLITE_DATA_DIR/);
      assert.match(r.stderr, /PGlite database from zenmesh 0\.1/);
      assert.deepEqual(readdirSync(dir), ["pgdata"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the backend connects as the runtime login and never holds the owner's password", async () => {
    const z = await startZenmesh({ name: "pg-roles" });
    try {
      const owner = readFileSync(join(z.dir, "pg-auth", "owner.password"), "utf8").trim();
      const runtime = readFileSync(join(z.dir, "pg-auth", "runtime.password"), "utf8").trim();
      const backend = z.pidOf("backend");
      const seen = `${readFileSync(`/proc/${backend}/environ`, "utf8")}\0${readFileSync(`/proc/${backend}/cmdline`, "utf8")}`;
      assert.ok(seen.includes(runtime), "the backend was given the runtime login");
      assert.ok(
        !seen.includes(owner),
        "the owner's password is not in the backend's environment or arguments",
      );
      for (const role of ["ingester", "egress", "bff"] as const) {
        const env = readFileSync(`/proc/${z.pidOf(role)}/environ`, "utf8");
        assert.ok(!env.includes(runtime) && !env.includes(owner), `${role} holds no database password`);
      }
      assert.match(z.output(), /^\s+database\s+running\s+pid \d+\s+socket .*\/pg\/\.s\.PGSQL\.5432$/m);

      // Stopped last: by the time the server shuts down, no role holds a connection it must cut.
      const [server] = databasePids(z);
      process.kill(z.supervisorPid, "SIGTERM");
      await until("zenmesh up to stop", async () => (alive(z.supervisorPid) ? undefined : true));
      assert.equal(alive(server!), false, "the server is stopped with the system");
      const log = readFileSync(join(z.dir, "run", "postgres.log"), "utf8");
      const shutdown = log.slice(log.lastIndexOf("received fast shutdown request"));
      assert.match(shutdown, /^received fast shutdown request/);
      assert.doesNotMatch(shutdown, /terminating connection due to administrator command/);
    } finally {
      await z.stop();
    }
  });

  test("a kill -9 of the database server is restarted by the supervisor, and the system works again", async () => {
    const z = await startZenmesh({ name: "pg-kill" });
    try {
      const source = await z.githubSource();
      const before = await accepted(z, source, "before");
      const [first] = databasePids(z);
      assert.ok(first);
      process.kill(first, "SIGKILL");
      await until("the supervisor to restart the database", async () =>
        databasePids(z).length >= 2 ? true : undefined,
      );
      assert.match(z.output(), /^\s+database\s+exited\s+SIGKILL; restarting in 1 s$/m);
      const after = await accepted(z, source, "after");
      assert.ok(
        await eventThere(z.api, z.key, z.projectId, before),
        "the event acknowledged before the kill",
      );
      assert.ok(await eventThere(z.api, z.key, z.projectId, after));
      assert.equal(alive(first), false);
      assert.deepEqual(postmastersOf(z.dir), [databasePids(z).at(-1)]);
    } finally {
      await z.stop();
    }
  });

  test("a kill -9 of the supervisor: zenmesh up again on the same dir just works, nothing orphaned, nothing lost", async () => {
    const z1 = await startZenmesh({ name: "pg-orphan" });
    let z2: Zenmesh | undefined;
    try {
      const source = await z1.githubSource();
      const before = await accepted(z1, source, "before");
      const [orphan] = databasePids(z1);
      assert.ok(orphan);
      process.kill(z1.supervisorPid, "SIGKILL");
      await until("the roles to follow their supervisor", async () =>
        (["backend", "ingester", "egress", "bff"] as const).every((r) => !alive(z1.pidOf(r)))
          ? true
          : undefined,
      );
      assert.equal(alive(orphan), true, "the server outlived its supervisor");

      z2 = await startZenmesh({ name: "pg-orphan", dir: z1.dir });
      assert.equal(alive(orphan), false, "the orphaned server was shut down");
      const [now] = databasePids(z2);
      assert.deepEqual(postmastersOf(z1.dir), [now]);
      assert.ok(
        await eventThere(z2.api, z1.key, z1.projectId, before),
        "the event acknowledged before the kill",
      );
      // The first run's source, on the new run's ingest listener.
      const moved = { ...source, ingest_url: z2.ingest + new URL(source.ingest_url).pathname };
      const after = await accepted(z2, moved, "after");
      assert.ok(await eventThere(z2.api, z1.key, z1.projectId, after));
    } finally {
      await z2?.stop();
      // Should the second start have failed, the orphan must not outlive the test.
      for (const pid of postmastersOf(z1.dir)) process.kill(pid, "SIGKILL");
      await z1.stop();
    }
  });
});
