/**
 * Which user the embedded server runs as: the dedicated system user as root,
 * `nobody` where it cannot be made, and never root; as anyone else, that user.
 * The passwd file and `useradd` are passed in, so every branch runs here.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { isZenError } from "../../core/index.ts";
import { SERVER_USER, serverUser } from "./os-user.ts";

const dir = mkdtempSync(join(tmpdir(), "zm-osuser-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function passwd(name: string, lines: string[]): string {
  const f = join(dir, name);
  writeFileSync(f, `${["root:x:0:0:root:/root:/bin/bash", ...lines].join("\n")}\n`);
  return f;
}

/** A stand-in for useradd that appends the user to the passwd file, as the real one would. */
function fakeUseradd(file: string, uid: number): string {
  const script = join(dir, `useradd-${uid}`);
  writeFileSync(
    script,
    `#!/bin/sh\nfor last; do :; done\necho "$last:x:${uid}:${uid}::/nonexistent:/usr/sbin/nologin" >> ${JSON.stringify(file)}\n`,
  );
  chmodSync(script, 0o755);
  return script;
}

describe("the embedded server's operating-system user", () => {
  it("as root, uses the dedicated system user when it exists", () => {
    const u = serverUser({
      uid: 0,
      passwdFile: passwd("has", [`${SERVER_USER}:x:990:985::/nonexistent:/usr/sbin/nologin`]),
      useradd: "/nonexistent/useradd",
    });
    assert.deepEqual(u, { name: SERVER_USER, uid: 990, gid: 985, switched: true });
  });

  it("as root, creates the dedicated system user with useradd when it is missing", () => {
    const file = passwd("create", ["nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]);
    const u = serverUser({ uid: 0, passwdFile: file, useradd: fakeUseradd(file, 991) });
    assert.deepEqual(u, { name: SERVER_USER, uid: 991, gid: 991, switched: true });
    assert.match(readFileSync(file, "utf8"), new RegExp(`^${SERVER_USER}:x:991:`, "m"));
  });

  it("as root, falls back to nobody when useradd is unavailable", () => {
    const u = serverUser({
      uid: 0,
      passwdFile: passwd("fallback", ["nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]),
      useradd: "/nonexistent/useradd",
    });
    assert.deepEqual(u, { name: "nobody", uid: 65534, gid: 65534, switched: true });
  });

  it("as root, refuses when no unprivileged user is left to run it as", () => {
    assert.throws(
      () =>
        serverUser({
          uid: 0,
          // A "nobody" that is root in disguise is no unprivileged user.
          passwdFile: passwd("none", ["nobody:x:0:0:nobody:/:/bin/sh"]),
          useradd: "/nonexistent/useradd",
        }),
      (err: unknown) =>
        isZenError(err) && err.code === "EMBEDDED_DB_FAILED" && /useradd failed/.test(err.message),
    );
  });

  it("as any other user, runs the server as that user and creates no user", () => {
    const u = serverUser({ uid: 1234, passwdFile: "/nonexistent/passwd", useradd: "/nonexistent/useradd" });
    assert.equal(u.uid, 1234);
    assert.equal(u.switched, false);
  });
});
