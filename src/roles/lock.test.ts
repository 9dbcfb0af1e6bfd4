import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { lockDataDir, lockHolder, lockPath } from "./lock.ts";

const LOCK_MODULE = new URL("./lock.ts", import.meta.url).href;

test("a live holder keeps the data dir; release frees it", () => {
  const dir = mkdtempSync(join(tmpdir(), "zm-lock-"));
  try {
    const lock = lockDataDir(dir);
    assert.equal(lockHolder(dir), process.pid);
    assert.throws(() => lockDataDir(dir), /in use by process/);
    lock.release();
    assert.equal(lockHolder(dir), undefined);
    lockDataDir(dir).release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("of many processes racing for a lock left by a dead one, exactly one wins", async () => {
  const dir = mkdtempSync(join(tmpdir(), "zm-lock-"));
  try {
    for (let round = 0; round < 3; round++) {
      // A pid that is not running: the lock is stale.
      writeFileSync(lockPath(dir), "999999999\n");
      const script = `
        import { lockDataDir } from ${JSON.stringify(LOCK_MODULE)};
        try { lockDataDir(${JSON.stringify(dir)}); console.log("won"); setTimeout(() => {}, 1500); }
        catch (e) { console.log("lost"); }`;
      const children = Array.from({ length: 6 }, () =>
        spawn(process.execPath, ["--input-type=module", "-e", script], {
          stdio: ["ignore", "pipe", "inherit"],
        }),
      );
      const outcomes = await Promise.all(
        children.map(
          (c) =>
            new Promise<string>((resolve) => {
              let out = "";
              c.stdout.on("data", (d: Buffer) => {
                out += d.toString();
              });
              c.on("exit", () => resolve(out.trim()));
            }),
        ),
      );
      assert.equal(outcomes.filter((o) => o === "won").length, 1, outcomes.join(","));
      // The winner has exited by now: its lock is stale for the next round.
      assert.match(readFileSync(lockPath(dir), "utf8"), /^\d+\n$/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
