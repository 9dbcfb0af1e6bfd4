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
      // A winner holds the lock until every racer has answered, then exits without releasing it.
      const script = `
        import { lockDataDir } from ${JSON.stringify(LOCK_MODULE)};
        let won = false;
        try { lockDataDir(${JSON.stringify(dir)}); won = true; } catch {}
        console.log(won ? "won" : "lost");
        process.stdin.resume();
        process.stdin.on("end", () => process.exit(0));`;
      const children = Array.from({ length: 6 }, () =>
        spawn(process.execPath, ["--input-type=module", "-e", script], {
          stdio: ["pipe", "pipe", "inherit"],
        }),
      );
      const outcomes = await Promise.all(
        children.map(
          (c) =>
            new Promise<string>((resolve) => {
              let out = "";
              c.stdout.on("data", (d: Buffer) => {
                out += d.toString();
                if (out.includes("\n")) resolve(out.trim());
              });
            }),
        ),
      );
      await Promise.all(
        children.map((c) => {
          const exited = new Promise((r) => c.once("exit", r));
          c.stdin.end();
          return exited;
        }),
      );
      assert.equal(outcomes.filter((o) => o === "won").length, 1, outcomes.join(","));
      // The winner has exited by now: its lock is stale for the next round.
      assert.match(readFileSync(lockPath(dir), "utf8"), /^\d+\n$/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
