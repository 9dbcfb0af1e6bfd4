import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isZenError } from "../core/index.ts";
import { randomBytes } from "../crypto/index.ts";
import { generateMasterKey, loadMasterKeyRing, parseMasterKeyRing } from "./index.ts";

const root = mkdtempSync(join(tmpdir(), "zm-masterkey-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${n++}`);

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const b64 = (b: Buffer) => b.toString("base64");

function rejectsWith(code: string, mustMention: string[], mustNotContain: string[] = []) {
  return (e: unknown) => {
    assert.ok(isZenError(e), `expected a ZenError, got ${String(e)}`);
    assert.equal(e.code, code);
    for (const s of mustMention) assert.ok(e.message.includes(s), `message should name ${s}: ${e.message}`);
    for (const s of mustNotContain) assert.ok(!e.message.includes(s), "message leaks key material");
    return true;
  };
}

test("one base64 key is version 1 and active", () => {
  const ring = parseMasterKeyRing(b64(k1), "ZENMESH_MASTER_KEY");
  assert.equal(ring.active, 1);
  assert.deepEqual([...ring.keys.keys()], [1]);
  assert.deepEqual(ring.keys.get(1), k1);
  assert.deepEqual(parseMasterKeyRing(`  ${b64(k1)}\n`, "x").keys.get(1), k1);
});

test("a versioned list defaults to the highest version and honours active=", () => {
  const list = `v1:${b64(k1)},v2:${b64(k2)}`;
  const ring = parseMasterKeyRing(list, "ZENMESH_MASTER_KEY");
  assert.equal(ring.active, 2);
  assert.deepEqual(ring.keys.get(1), k1);
  assert.deepEqual(ring.keys.get(2), k2);
  assert.equal(parseMasterKeyRing(`${list},active=1`, "x").active, 1);
  const file = `# rotated 2025-01\nv2:${b64(k2)}\nactive=2\r\nv1:${b64(k1)}\n`;
  assert.equal(parseMasterKeyRing(file, "x").active, 2);
  const urlSafe = k1.toString("base64url");
  assert.deepEqual(parseMasterKeyRing(`v7:${urlSafe}`, "x").keys.get(7), k1);
});

test("malformed keys are refused without echoing the key material", () => {
  const short = b64(randomBytes(31));
  const long = b64(randomBytes(33));
  const cases: [string, string][] = [
    [short, short],
    [long, long],
    [`${b64(k1).slice(0, 40)}!!=`, b64(k1).slice(0, 40)],
    [`v1:${short}`, short],
    [`v1:${b64(k1)},v1:${b64(k2)}`, b64(k1)],
    [`v0:${b64(k1)}`, b64(k1)],
    [`vx:${b64(k1)}`, b64(k1)],
    [`v1:${b64(k1)},active=2`, b64(k1)],
    [`v1:${b64(k1)},active=1,active=1`, b64(k1)],
    [`v1:${b64(k1)},k2=${b64(k2)}`, b64(k2)],
    ["", "\u0000"],
    [" , \n", "\u0000"],
  ];
  for (const [text, secret] of cases) {
    assert.throws(
      () => loadMasterKeyRing({ profile: "production", dataDir: freshDir(), key: text }),
      rejectsWith("CONFIG_INVALID", ["ZENMESH_MASTER_KEY"], [secret]),
      text,
    );
  }
});

test("production without a master key refuses and names both settings", () => {
  assert.throws(
    () => loadMasterKeyRing({ profile: "production", dataDir: freshDir() }),
    rejectsWith("CONFIG_INSECURE", ["ZENMESH_MASTER_KEY", "ZENMESH_MASTER_KEY_FILE"]),
  );
});

test("production refuses a key file that group or others can read", () => {
  const file = join(root, `key-${n++}`);
  writeFileSync(file, `v1:${b64(k1)}\n`, { mode: 0o600 });
  for (const mode of [0o640, 0o604, 0o644, 0o660]) {
    chmodSync(file, mode);
    assert.throws(
      () => loadMasterKeyRing({ profile: "production", dataDir: freshDir(), keyFile: file }),
      rejectsWith("CONFIG_INSECURE", ["ZENMESH_MASTER_KEY_FILE"], [b64(k1)]),
    );
  }
  // The dev profile reads it anyway: it is a developer's own machine.
  assert.deepEqual(loadMasterKeyRing({ profile: "dev", dataDir: freshDir(), keyFile: file }).keys.get(1), k1);
  chmodSync(file, 0o600);
  const ring = loadMasterKeyRing({ profile: "production", dataDir: freshDir(), keyFile: file });
  assert.deepEqual(ring.keys.get(1), k1);
  chmodSync(file, 0o400);
  assert.equal(loadMasterKeyRing({ profile: "production", dataDir: freshDir(), keyFile: file }).active, 1);
});

test("a missing key file or both settings at once are refused", () => {
  assert.throws(
    () => loadMasterKeyRing({ profile: "production", dataDir: freshDir(), keyFile: join(root, "absent") }),
    rejectsWith("CONFIG_INVALID", ["ZENMESH_MASTER_KEY_FILE"]),
  );
  assert.throws(
    () => loadMasterKeyRing({ profile: "dev", dataDir: freshDir(), key: b64(k1), keyFile: join(root, "x") }),
    rejectsWith("CONFIG_INVALID", ["ZENMESH_MASTER_KEY", "ZENMESH_MASTER_KEY_FILE"], [b64(k1)]),
  );
  assert.throws(
    () => loadMasterKeyRing({ profile: "dev", dataDir: freshDir(), keyFile: root }),
    rejectsWith("CONFIG_INVALID", ["ZENMESH_MASTER_KEY_FILE"]),
  );
});

test("dev generates a 0600 master key into a 0700 data dir once and reuses it", () => {
  const dataDir = join(freshDir(), "nested");
  const first = loadMasterKeyRing({ profile: "dev", dataDir });
  const path = join(dataDir, "master.key");
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(dataDir).mode & 0o077, 0);
  assert.equal(first.active, 1);
  assert.equal(first.keys.get(1)?.length, 32);
  const second = loadMasterKeyRing({ profile: "dev", dataDir });
  assert.deepEqual(second.keys.get(1), first.keys.get(1));
  // The generated file is a valid production key file.
  const prod = loadMasterKeyRing({ profile: "production", dataDir: freshDir(), keyFile: path });
  assert.deepEqual(prod.keys.get(1), first.keys.get(1));
});

test("dev refuses a corrupt master key file instead of replacing it", () => {
  const dataDir = freshDir();
  loadMasterKeyRing({ profile: "dev", dataDir });
  const path = join(dataDir, "master.key");
  writeFileSync(path, "not a key\n");
  assert.throws(() => loadMasterKeyRing({ profile: "dev", dataDir }), rejectsWith("CONFIG_INVALID", []));
  assert.equal(readFileSync(path, "utf8"), "not a key\n");
});

test("generated master keys are accepted by the loader", () => {
  const key = generateMasterKey();
  assert.equal(Buffer.from(key, "base64").length, 32);
  assert.equal(loadMasterKeyRing({ profile: "production", dataDir: freshDir(), key }).active, 1);
});
