import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { fixedClock, isZenError } from "../core/index.ts";
import { CertificateAuthority } from "./ca.ts";
import type { Svid } from "./types.ts";
import { validateSvidLeaf } from "./validate.ts";
import { ECDSA_SHA256, generateP256, pemCertificates, toPem, x509 } from "./x509.ts";

const TD = "zenmesh.local";
let dir: string;
let n = 0;

function file(text: string): string {
  const p = join(dir, `f${n++}.pem`);
  writeFileSync(p, text);
  return p;
}

function leafPem(chain: string): string {
  const der = pemCertificates(chain)[0];
  assert.ok(der);
  return toPem("CERTIFICATE", der);
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function opensslVerify(ca: { root: string; intermediate: string }, chain: string): string {
  const r = openssl([
    "verify",
    "-CAfile",
    file(ca.root),
    "-untrusted",
    file(ca.intermediate),
    file(leafPem(chain)),
  ]);
  return r.out.trim();
}

describe("CertificateAuthority issuance", () => {
  let ca: CertificateAuthority;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zm-ca-"));
    ca = await CertificateAuthority.create({ trustDomain: TD });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("root and intermediate follow the signing-certificate rules", () => {
    const root = openssl(["x509", "-noout", "-text", "-in", file(ca.rootPem())]).out;
    assert.match(root, /CA:TRUE, pathlen:1/);
    assert.match(root, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(root, new RegExp(`URI:spiffe://${TD.replace(".", "\\.")}\\s`));
    const inter = openssl(["x509", "-noout", "-text", "-in", file(ca.intermediatePem())]).out;
    assert.match(inter, /CA:TRUE, pathlen:0/);
    assert.match(inter, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(inter, /Authority Key Identifier/);
    assert.match(inter, /ASN1 OID: prime256v1/);
    const serial = /Serial Number:\s*\n?\s*([0-9a-f:]+)/.exec(inter)?.[1] ?? "";
    assert.ok(serial.replace(/:/g, "").length >= 30, "a 128-bit serial");
    assert.doesNotMatch(inter, /Negative/);
  });

  test("an issued SVID verifies with openssl and shows its SPIFFE ID and CA:FALSE", async () => {
    const svid = await ca.issueSvid({ path: "agent/cluster-1" });
    assert.equal(svid.spiffeId, `spiffe://${TD}/agent/cluster-1`);
    assert.equal(pemCertificates(svid.certChainPem).length, 2);
    assert.match(svid.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(svid.bundlePem, ca.bundlePem());
    assert.match(
      opensslVerify({ root: ca.bundlePem(), intermediate: ca.intermediatePem() }, svid.certChainPem),
      /: OK$/,
    );
    const text = openssl(["x509", "-noout", "-text", "-in", file(leafPem(svid.certChainPem))]).out;
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /URI:spiffe:\/\/zenmesh\.local\/agent\/cluster-1\n/);
    assert.match(text, /Subject Key Identifier/);
    assert.match(text, /Authority Key Identifier/);
    // The key really is the leaf's.
    const k = openssl(["pkey", "-in", file(svid.keyPem), "-pubout"]).out;
    const c = openssl(["x509", "-noout", "-pubkey", "-in", file(leafPem(svid.certChainPem))]).out;
    assert.equal(k, c);
  });

  test("a leaf is backdated for clock skew and never outlives the intermediate", async () => {
    const clock = fixedClock("2030-01-01T00:00:00Z");
    const short = await CertificateAuthority.create({ trustDomain: TD, clock, intermediateTtlSeconds: 7200 });
    const svid = await short.issueSvid({ path: "backend", ttlSeconds: 3600 });
    assert.equal(svid.notBefore.toISOString(), "2029-12-31T23:59:00.000Z");
    assert.equal(svid.notAfter.toISOString(), "2030-01-01T01:00:00.000Z");
    const long = await short.issueSvid({ path: "backend", ttlSeconds: 86_400 });
    assert.equal(long.notAfter.getTime(), short.intermediateNotAfter().getTime());
    clock.advance(3 * 3600_000);
    await assert.rejects(
      short.issueSvid({ path: "backend" }),
      (e) => isZenError(e) && e.code === "KEY_UNAVAILABLE",
    );
    await short.rotateIntermediate();
    assert.ok((await short.issueSvid({ path: "backend" })).notAfter > clock.now());
  });

  test("refuses invalid workload paths and TTLs", async () => {
    for (const path of ["", "a//b", "../root", "./x", "x?y", "x#y", "a%2fb", "a b", "x/"]) {
      await assert.rejects(
        ca.issueSvid({ path }),
        (e) => isZenError(e) && e.code === "VALIDATION_FAILED",
        path,
      );
    }
    for (const ttlSeconds of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(
        ca.issueSvid({ path: "x", ttlSeconds }),
        (e) => isZenError(e) && e.code === "VALIDATION_FAILED",
      );
    }
    await assert.rejects(
      CertificateAuthority.create({ trustDomain: "Bad.TD" }),
      (e) => isZenError(e) && e.code === "CONFIG_INVALID",
    );
  });

  test("signs a CSR from openssl, taking only its key: the SAN and CA flag it asks for are ignored", async () => {
    const key = file("");
    const conf = file(
      "[req]\ndistinguished_name=dn\nreq_extensions=ext\nprompt=no\n[dn]\nCN=admin\n" +
        "[ext]\nbasicConstraints=critical,CA:TRUE\nsubjectAltName=URI:spiffe://zenmesh.local/backend,URI:spiffe://evil/x\n",
    );
    const csrPath = join(dir, "req.csr");
    const gen = openssl([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      csrPath,
      "-config",
      conf,
    ]);
    assert.equal(gen.status, 0, gen.out);
    const { readFileSync } = await import("node:fs");
    const signed = await ca.signCsr({
      csrPem: readFileSync(csrPath, "utf8"),
      path: "ingester",
      ttlSeconds: 600,
    });
    assert.match(
      opensslVerify({ root: ca.bundlePem(), intermediate: ca.intermediatePem() }, signed.certChainPem),
      /: OK$/,
    );
    const text = openssl(["x509", "-noout", "-text", "-in", file(leafPem(signed.certChainPem))]).out;
    assert.match(text, /CA:FALSE/);
    assert.match(text, /URI:spiffe:\/\/zenmesh\.local\/ingester\n/);
    assert.doesNotMatch(text, /backend|evil|CN ?= ?admin/);
    assert.equal(signed.notAfter.getTime() - signed.notBefore.getTime(), 660_000);
    const v = validateSvidLeaf(signed.certChainPem, { trustDomain: TD, now: new Date() });
    assert.equal(v.ok && v.value.spiffeId, `spiffe://${TD}/ingester`);
  });

  test("signs a CSR built with @peculiar/x509, and refuses a forged or non-P-256 one", async () => {
    const keys = await generateP256();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=x",
      keys,
      signingAlgorithm: ECDSA_SHA256,
    });
    const signed = await ca.signCsr({ csrPem: csr.toString("pem"), path: "egress" });
    assert.match(
      opensslVerify({ root: ca.bundlePem(), intermediate: ca.intermediatePem() }, signed.certChainPem),
      /: OK$/,
    );

    // Proof of possession: flip a bit of the signature.
    const der = new Uint8Array(csr.rawData);
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
    const forged = toPem("CERTIFICATE REQUEST", der);
    await assert.rejects(
      ca.signCsr({ csrPem: forged, path: "egress" }),
      (e) => isZenError(e) && e.code === "VALIDATION_FAILED",
    );

    const p384 = await globalThis.crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
      "sign",
      "verify",
    ]);
    const csr384 = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=x",
      keys: p384,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-384" },
    });
    await assert.rejects(
      ca.signCsr({ csrPem: csr384.toString("pem"), path: "egress" }),
      (e) => isZenError(e) && e.code === "VALIDATION_FAILED",
    );
    await assert.rejects(
      ca.signCsr({ csrPem: "garbage", path: "egress" }),
      (e) => isZenError(e) && e.code === "VALIDATION_FAILED",
    );
  });

  test("after rotateIntermediate, leaves from the old and the new intermediate both verify against the root", async () => {
    const c = await CertificateAuthority.create({ trustDomain: TD });
    const oldInter = c.intermediatePem();
    const oldLeaf = await c.issueSvid({ path: "backend" });
    await c.rotateIntermediate();
    assert.notEqual(c.intermediatePem(), oldInter);
    const newLeaf = await c.issueSvid({ path: "backend" });
    assert.equal(
      pemCertificates(newLeaf.certChainPem)[1]?.toString(),
      pemCertificates(c.intermediatePem())[0]?.toString(),
    );
    assert.match(
      opensslVerify({ root: c.bundlePem(), intermediate: oldInter }, oldLeaf.certChainPem),
      /: OK$/,
    );
    assert.match(
      opensslVerify({ root: c.bundlePem(), intermediate: c.intermediatePem() }, newLeaf.certChainPem),
      /: OK$/,
    );
    // Each leaf needs its own intermediate.
    assert.doesNotMatch(
      opensslVerify({ root: c.bundlePem(), intermediate: oldInter }, newLeaf.certChainPem),
      /: OK$/,
    );
  });

  test("after rotateRoot, the bundle holds both roots until the old one is retired", async () => {
    const c = await CertificateAuthority.create({ trustDomain: TD });
    const oldInter = c.intermediatePem();
    const oldLeaf = await c.issueSvid({ path: "bff" });
    await c.rotateRoot();
    assert.equal(pemCertificates(c.bundlePem()).length, 2);
    const newLeaf = await c.issueSvid({ path: "bff" });
    assert.match(
      opensslVerify({ root: c.bundlePem(), intermediate: oldInter }, oldLeaf.certChainPem),
      /: OK$/,
    );
    assert.match(
      opensslVerify({ root: c.bundlePem(), intermediate: c.intermediatePem() }, newLeaf.certChainPem),
      /: OK$/,
    );
    c.retirePreviousRoots();
    assert.equal(pemCertificates(c.bundlePem()).length, 1);
    assert.doesNotMatch(
      opensslVerify({ root: c.bundlePem(), intermediate: oldInter }, oldLeaf.certChainPem),
      /: OK$/,
    );
  });
});

interface Handshake {
  ok: boolean;
  serverSawPeer?: string;
  clientSawPeer?: string;
  error?: string;
}

async function handshake(server: Svid, client: Svid, clientTrusts: string): Promise<Handshake> {
  const serverPeer: { id?: string } = {};
  const srv = tls.createServer(
    {
      key: server.keyPem,
      cert: server.certChainPem,
      ca: server.bundlePem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
    },
    (sock) => {
      const peer = sock.getPeerCertificate();
      const v = validateSvidLeaf(peer.raw, { trustDomain: TD, now: new Date() });
      if (v.ok) serverPeer.id = v.value.spiffeId;
      sock.end("hello");
    },
  );
  srv.on("tlsClientError", () => {});
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise<Handshake>((resolve) => {
      const sock = tls.connect({
        host: "127.0.0.1",
        port,
        key: client.keyPem,
        cert: client.certChainPem,
        ca: clientTrusts,
        minVersion: "TLSv1.3",
        // Node matches DNS names and IPs only; the SPIFFE ID is the identity.
        checkServerIdentity: (_host, cert) => {
          const v = validateSvidLeaf(cert.raw, { trustDomain: TD, now: new Date() });
          return v.ok ? undefined : new Error(v.reason);
        },
      });
      let data = "";
      sock.on("data", (d) => {
        data += d;
      });
      sock.on("end", () => {
        const v = validateSvidLeaf(sock.getPeerCertificate().raw, { trustDomain: TD, now: new Date() });
        resolve({
          ok: data === "hello",
          ...(serverPeer.id ? { serverSawPeer: serverPeer.id } : {}),
          ...(v.ok ? { clientSawPeer: v.value.spiffeId } : {}),
        });
      });
      sock.on("error", (err) => resolve({ ok: false, error: err.message }));
    });
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

describe("SVIDs in a real mutual TLS handshake", () => {
  test("two SVIDs from the CA authenticate each other, and each side reads the other's SPIFFE ID", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const backend = await ca.issueSvid({ path: "backend" });
    const ingester = await ca.issueSvid({ path: "ingester" });
    const r = await handshake(backend, ingester, backend.bundlePem);
    assert.deepEqual(r, {
      ok: true,
      serverSawPeer: `spiffe://${TD}/ingester`,
      clientSawPeer: `spiffe://${TD}/backend`,
    });
  });

  test("a client with a leaf from another CA is refused", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const other = await CertificateAuthority.create({ trustDomain: TD });
    const backend = await ca.issueSvid({ path: "backend" });
    const intruder = await other.issueSvid({ path: "ingester" });
    const r = await handshake(backend, intruder, ca.bundlePem());
    assert.equal(r.ok, false);
    assert.equal(r.serverSawPeer, undefined);
  });

  test("a client refuses a server whose leaf comes from another CA", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const other = await CertificateAuthority.create({ trustDomain: TD });
    const r = await handshake(
      await other.issueSvid({ path: "backend" }),
      await ca.issueSvid({ path: "ingester" }),
      ca.bundlePem(),
    );
    assert.equal(r.ok, false);
    assert.match(r.error ?? "", /certificate/i);
  });
});
