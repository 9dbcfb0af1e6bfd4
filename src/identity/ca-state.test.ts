import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isZenError } from "../core/index.ts";
import { generateMasterKey, type MasterKeyRing, parseMasterKeyRing } from "../zenlock/index.ts";
import { type CaState, CertificateAuthority } from "./ca.ts";
import { validateSvidLeaf } from "./validate.ts";
import { x509 } from "./x509.ts";

const TD = "zenmesh.local";
const ring = (): MasterKeyRing => parseMasterKeyRing(generateMasterKey(), "test");
const code = (c: string) => (e: unknown) => isZenError(e) && e.code === c;

describe("CA state export and load", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "zm-castate-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("round-trips through JSON: same certificates, keys that still sign leaves under the same root", async () => {
    const keys = ring();
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const state = JSON.parse(JSON.stringify(await ca.export(keys))) as CaState;
    const loaded = await CertificateAuthority.load(state, keys);
    assert.equal(loaded.trustDomain, TD);
    assert.equal(loaded.bundlePem(), ca.bundlePem());
    assert.equal(loaded.intermediatePem(), ca.intermediatePem());
    const svid = await loaded.issueSvid({ path: "backend" });
    const leaf = new x509.X509Certificate(svid.certChainPem);
    assert.equal(
      await leaf.verify({
        publicKey: new x509.X509Certificate(ca.intermediatePem()).publicKey,
        signatureOnly: true,
      }),
      true,
    );
    assert.equal(validateSvidLeaf(svid.certChainPem, { trustDomain: TD, now: new Date() }).ok, true);
    // The loaded CA can still rotate (the root key came back too).
    await loaded.rotateIntermediate();
    assert.notEqual(loaded.intermediatePem(), ca.intermediatePem());
  });

  test("seals keys as zl:v<kek>:… and never holds a private key in the clear", async () => {
    const keys = parseMasterKeyRing(`v3:${generateMasterKey()},v7:${generateMasterKey()},active=7`, "test");
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const state = await ca.export(keys);
    assert.match(state.root.sealedKey, /^zl:v7:[A-Za-z0-9+/]+=*$/);
    assert.match(state.intermediate.sealedKey, /^zl:v7:/);
    // Open the real keys and look for every encoding of them in the exported JSON.
    const json = JSON.stringify(state);
    assert.doesNotMatch(json, /PRIVATE KEY/);
    const { openCaKey } = await import("./ca-seal.ts");
    for (const role of ["root", "intermediate"] as const) {
      const cert = new x509.X509Certificate(state[role].certPem);
      const key = await openCaKey(keys, state[role].sealedKey, TD, role, cert.serialNumber);
      const pkcs8 = Buffer.from(await globalThis.crypto.subtle.exportKey("pkcs8", key));
      const body = pkcs8.toString("base64");
      assert.ok(!json.includes(body), `${role} key in the clear (base64)`);
      assert.ok(!json.includes(body.slice(20, 60)), `${role} key fragment in the clear`);
      assert.ok(!json.includes(pkcs8.toString("hex").slice(0, 64)), `${role} key in the clear (hex)`);
      const jwk = await globalThis.crypto.subtle.exportKey("jwk", key);
      assert.ok(jwk.d && !json.includes(jwk.d), `${role} scalar in the clear`);
    }
  });

  test("loading with the wrong master key fails with CRYPTO_FAILED", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const state = await ca.export(ring());
    await assert.rejects(CertificateAuthority.load(state, ring()), code("CRYPTO_FAILED"));
  });

  test("loading without the sealing key version fails with KEY_UNAVAILABLE", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const state = await ca.export(parseMasterKeyRing(`v2:${generateMasterKey()}`, "test"));
    await assert.rejects(CertificateAuthority.load(state, ring()), code("KEY_UNAVAILABLE"));
  });

  test("a tampered state fails with CRYPTO_FAILED", async () => {
    const keys = ring();
    const a = await CertificateAuthority.create({ trustDomain: TD });
    const b = await CertificateAuthority.create({ trustDomain: TD });
    const sa = await a.export(keys);
    const sb = await b.export(keys);
    const variants: Array<[string, CaState]> = [
      [
        "a sealed key swapped between roles",
        { ...sa, root: { ...sa.root, sealedKey: sa.intermediate.sealedKey } },
      ],
      ["another CA's root certificate", { ...sa, root: { ...sa.root, certPem: sb.root.certPem } }],
      ["another CA's intermediate under this root", { ...sa, intermediate: sb.intermediate }],
      ["another trust domain", { ...sa, trustDomain: "other.td" }],
      [
        "a flipped ciphertext byte",
        {
          ...sa,
          intermediate: {
            ...sa.intermediate,
            sealedKey: sa.intermediate.sealedKey.replace(/.(?=.{10}$)/, (ch) => (ch === "A" ? "B" : "A")),
          },
        },
      ],
      [
        "a garbled certificate",
        {
          ...sa,
          root: { ...sa.root, certPem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
        },
      ],
      ["a key not in zl format", { ...sa, root: { ...sa.root, sealedKey: "plain" } }],
    ];
    for (const [name, state] of variants) {
      await assert.rejects(CertificateAuthority.load(state, keys), code("CRYPTO_FAILED"), name);
    }
    await assert.rejects(
      CertificateAuthority.load({ nope: 1 } as unknown as CaState, keys),
      code("CONFIG_INVALID"),
    );
  });

  test("loadOrCreate creates a 0600 file in a 0700 directory, then reuses it", async () => {
    const keys = ring();
    const file = join(dir, "fresh", "ca", "ca.json");
    const first = await CertificateAuthority.loadOrCreate(file, { trustDomain: TD, masterKeys: keys });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "fresh", "ca")).mode & 0o777, 0o700);
    const second = await CertificateAuthority.loadOrCreate(file, { trustDomain: TD, masterKeys: keys });
    assert.equal(second.bundlePem(), first.bundlePem());
    assert.equal(second.intermediatePem(), first.intermediatePem());
    assert.doesNotMatch(readFileSync(file, "utf8"), /PRIVATE KEY/);

    await second.rotateIntermediate();
    await second.save(file, keys);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const third = await CertificateAuthority.loadOrCreate(file, { trustDomain: TD, masterKeys: keys });
    assert.equal(third.intermediatePem(), second.intermediatePem());
    assert.equal(third.bundlePem(), first.bundlePem());
  });

  test("concurrent loadOrCreate calls end with one CA", async () => {
    const keys = ring();
    const file = join(dir, "race", "ca.json");
    const cas = await Promise.all(
      [1, 2, 3, 4].map(() => CertificateAuthority.loadOrCreate(file, { trustDomain: TD, masterKeys: keys })),
    );
    const stored = await CertificateAuthority.loadOrCreate(file, { trustDomain: TD, masterKeys: keys });
    // Each caller either created the stored CA or lost the race and loaded it.
    assert.ok(cas.some((c) => c.bundlePem() === stored.bundlePem()));
    assert.equal(cas.filter((c) => c.bundlePem() !== stored.bundlePem()).length, 0);
  });

  test("loadOrCreate refuses a file for another trust domain, a readable file and a wrong key", async () => {
    const keys = ring();
    const file = join(dir, "td", "ca.json");
    await CertificateAuthority.loadOrCreate(file, { trustDomain: TD, masterKeys: keys });
    await assert.rejects(
      CertificateAuthority.loadOrCreate(file, { trustDomain: "other.td", masterKeys: keys }),
      code("CONFIG_INVALID"),
    );
    await assert.rejects(
      CertificateAuthority.loadOrCreate(file, { trustDomain: TD, masterKeys: ring() }),
      code("CRYPTO_FAILED"),
    );
    chmodSync(file, 0o644);
    await assert.rejects(
      CertificateAuthority.loadOrCreate(file, { trustDomain: TD, masterKeys: keys }),
      code("CONFIG_INSECURE"),
    );
    const junk = join(dir, "junk.json");
    writeFileSync(junk, "{not json", { mode: 0o600 });
    await assert.rejects(
      CertificateAuthority.loadOrCreate(junk, { trustDomain: TD, masterKeys: keys }),
      code("CONFIG_INVALID"),
    );
  });
});
