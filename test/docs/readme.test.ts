/**
 * The README's quickstart writes nothing into the repository that git would
 * pick up: every file its commands write (cookie jars, `-o` outputs,
 * redirections) lies under the data dir `.zenmesh/`, which `.gitignore`
 * covers. A session cookie jar in the repository root is one `git add .`
 * away from a published session token.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname, "..", "..");
const readme = readFileSync(resolve(ROOT, "README.md"), "utf8");
const gitignore = readFileSync(resolve(ROOT, ".gitignore"), "utf8")
  .split("\n")
  .map((l) => l.trim());

/** The shell blocks of the README. */
const shellBlocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Paths the commands write: curl's -c/--cookie-jar, -o/--output, and shell redirections to a file. */
function writtenPaths(block: string): string[] {
  const out: string[] = [];
  for (const m of block.matchAll(/(?:^|\s)(?:-c|--cookie-jar|-o|--output)\s+("?)([^\s"]+)\1/g))
    out.push(m[2]!);
  for (const m of block.matchAll(/(?:^|[^0-9&>=-])>>?\s*("?)([^\s"&|;]+)\1/g)) out.push(m[2]!);
  return out.filter((p) => p !== "/dev/null");
}

test("the quickstart's shell blocks are found (the check below reads them)", () => {
  assert.ok(shellBlocks.length >= 3);
  assert.ok(
    shellBlocks.some((b) => b.includes("/v1/auth/login")),
    "the session sign-in is among them",
  );
});

test("every file the quickstart writes lies under .zenmesh/, and .gitignore covers .zenmesh/", () => {
  const written = shellBlocks.flatMap(writtenPaths);
  assert.ok(written.length > 0, "the cookie jar at least");
  for (const path of written) {
    assert.ok(path.startsWith(".zenmesh/"), `the README writes ${path} outside .zenmesh/`);
  }
  assert.ok(gitignore.includes(".zenmesh/"), ".gitignore covers the data dir");
});

test("the session's cookie jar is read from where it was written", () => {
  const jars = shellBlocks.flatMap((b) => [...b.matchAll(/\s-b\s+(\S+)/g)].map((m) => m[1]!));
  assert.ok(jars.length > 0);
  for (const jar of jars) assert.ok(jar.startsWith(".zenmesh/"), jar);
});
