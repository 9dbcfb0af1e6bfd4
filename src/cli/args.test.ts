/** The CLI's flags: a command's own, the configuration's, and nothing else. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { splitFlags } from "./args.ts";

const unknown = (flag: string, command: string) => (err: unknown) => {
  const e = err as { code?: string; message?: string; details?: { flag?: string } };
  assert.equal(e.code, "UNKNOWN_FLAG");
  assert.equal(e.details?.flag, flag);
  assert.equal(e.message, `unknown flag --${flag} for \`zenmesh ${command}\` (see \`zenmesh help\`)`);
  return true;
};

test("a command's own flags are read and configuration flags are passed on with their values", () => {
  const r = splitFlags(
    ["--name", "Acme", "--data-dir", "/tmp/x", "--json", "--log-level=debug"],
    { own: { name: true, json: false } },
    "tenant create",
  );
  assert.deepEqual(
    [...r.flags],
    [
      ["name", "Acme"],
      ["json", true],
    ],
  );
  assert.deepEqual(r.rest, ["--data-dir", "/tmp/x", "--log-level=debug"]);
});

test("a misspelt flag is refused with its name, not ignored", () => {
  assert.throws(
    () => splitFlags(["--nam", "X"], { own: { name: true, json: false } }, "tenant create"),
    unknown("nam", "tenant create"),
  );
  assert.throws(
    () => splitFlags(["--nam=X"], { own: { name: true } }, "tenant create"),
    unknown("nam", "tenant create"),
  );
});

test("a single-dash or upper-case flag is refused too, without the value after `=`", () => {
  assert.throws(
    () => splitFlags(["-n", "X"], { own: { name: true } }, "tenant create"),
    unknown("n", "tenant create"),
  );
  assert.throws(
    () => splitFlags(["--Password=hunter2"], { own: {} }, "status"),
    (err: Error) => unknown("Password", "status")(err) && !err.message.includes("hunter2"),
  );
});

test("a flag that takes no value refuses one", () => {
  assert.throws(
    () => splitFlags(["--json=yes"], { own: { json: false } }, "status"),
    /--json takes no value/,
  );
});

test("a flag that takes a value needs one", () => {
  assert.throws(
    () => splitFlags(["--name"], { own: { name: true } }, "tenant create"),
    /--name needs a value/,
  );
});
