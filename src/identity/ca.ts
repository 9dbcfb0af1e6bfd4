/**
 * zenmesh's built-in certificate authority. Issues X.509-SVIDs following the
 * SPIFFE X509-SVID specification (section 2: one URI SAN; section 4.1: leaf
 * cA=false, signing certificates cA=true; section 4.3: key usage critical,
 * digitalSignature for leaves, keyCertSign/cRLSign for signing certificates;
 * section 4.4: EKU serverAuth+clientAuth) and RFC 5280 (4.2.1.1/4.2.1.2
 * key identifiers, 4.2.1.9 basic constraints with path lengths, 4.1.2.2
 * positive serials of at most 20 octets).
 *
 * Guards against: a CSR smuggling its own identity or CA flag (everything in
 * the CSR except its proven public key is ignored), leaves outliving their
 * issuer, and CA keys at rest in the clear (sealed with the master key, bound
 * by AAD to trust domain, role and serial so sealed keys cannot be swapped).
 */
import { randomBytes } from "node:crypto";
import { type Clock, systemClock, ZenError } from "../core/index.ts";
import type { MasterKeyRing } from "../zenlock/index.ts";
import { createCaStateFile, readCaStateFile, replaceCaStateFile } from "./ca-file.ts";
import { openCaKey, sealCaKey } from "./ca-seal.ts";
import { normalizeWorkloadPath } from "./spiffe-id.ts";
import type { Svid } from "./types.ts";
import type { CryptoKey } from "./x509.ts";
import { certPem, EC_P256, ECDSA_SHA256, exportPkcs8, generateP256, toPem, x509 } from "./x509.ts";

export const DEFAULT_ROOT_TTL_SECONDS = 10 * 365 * 24 * 3600;
export const DEFAULT_INTERMEDIATE_TTL_SECONDS = 365 * 24 * 3600;
export const DEFAULT_SVID_TTL_SECONDS = 3600;
/** Leaves are backdated by this much so peers with slow clocks accept them. */
export const CLOCK_SKEW_SECONDS = 60;
const MAX_TTL_SECONDS = 100 * 365 * 24 * 3600;

export interface CaState {
  format: "zenmesh-ca/v1";
  trustDomain: string;
  rootTtlSeconds: number;
  intermediateTtlSeconds: number;
  /** The active root; its key signs intermediates. */
  root: { certPem: string; sealedKey: string };
  intermediate: { certPem: string; sealedKey: string };
  /** Earlier roots still trusted during a root rotation (certificates only). */
  previousRootsPem: string[];
}

export interface SignedCsr {
  certChainPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** A CA certificate with its private key. */
interface Signer {
  cert: x509.X509Certificate;
  pem: string;
  key: CryptoKey;
  keyId: string;
}

export interface CreateCaOptions {
  trustDomain: string;
  clock?: Clock;
  rootTtlSeconds?: number;
  intermediateTtlSeconds?: number;
}

function checkTtl(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1 || v > MAX_TTL_SECONDS) {
    throw new ZenError("VALIDATION_FAILED", { message: `${name} must be a whole number of seconds ≥ 1` });
  }
  return v;
}

export function checkTrustDomain(td: string): string {
  if (typeof td !== "string" || !/^[a-z0-9._-]{1,255}$/.test(td)) {
    throw new ZenError("CONFIG_INVALID", {
      message: "the trust domain must be 1..255 characters of lower-case letters, digits, '.', '-' and '_'",
    });
  }
  return td;
}

function workloadPath(path: string): string {
  const p = normalizeWorkloadPath(path);
  if (!p.ok) {
    throw new ZenError("VALIDATION_FAILED", {
      message: `the workload path is not a valid SPIFFE ID path (${p.reason})`,
      details: { reason: p.reason },
    });
  }
  return p.value;
}

/** 128 random bits; @peculiar/x509 adds a leading zero octet when needed to keep it positive. */
function randomSerial(): string {
  return randomBytes(16).toString("hex");
}

function minDate(a: Date, b: Date): Date {
  return a.getTime() <= b.getTime() ? a : b;
}

async function keyIdOf(cert: x509.X509Certificate): Promise<string> {
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return ski.keyId;
  return (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId;
}

async function signerOf(cert: x509.X509Certificate, key: CryptoKey): Promise<Signer> {
  return { cert, pem: certPem(cert), key, keyId: await keyIdOf(cert) };
}

async function makeCaCert(
  role: "root" | "intermediate",
  trustDomain: string,
  now: Date,
  ttlSeconds: number,
  issuer: Signer | undefined,
): Promise<Signer> {
  const keys = await generateP256();
  const serialNumber = randomSerial();
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, role === "root" ? 1 : 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ski,
    new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${trustDomain}` }], false),
  ];
  if (issuer) extensions.push(new x509.AuthorityKeyIdentifierExtension(issuer.keyId, false));
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_SECONDS * 1000);
  let notAfter = new Date(now.getTime() + ttlSeconds * 1000);
  if (issuer) notAfter = minDate(notAfter, issuer.cert.notAfter);
  const subject = `CN=zenmesh ${role} CA ${serialNumber.slice(0, 8)}, OU=${trustDomain}, O=zenmesh`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject,
    issuer: issuer ? issuer.cert.subjectName : subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: issuer ? issuer.key : keys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions,
  });
  return { cert, pem: certPem(cert), key: keys.privateKey, keyId: ski.keyId };
}

export class CertificateAuthority {
  readonly trustDomain: string;
  #clock: Clock;
  #rootTtl: number;
  #intermediateTtl: number;
  #root: Signer;
  #intermediate: Signer;
  #previousRootsPem: string[];

  private constructor(
    trustDomain: string,
    clock: Clock,
    ttls: { root: number; intermediate: number },
    root: Signer,
    intermediate: Signer,
    previousRootsPem: string[],
  ) {
    this.trustDomain = trustDomain;
    this.#clock = clock;
    this.#rootTtl = ttls.root;
    this.#intermediateTtl = ttls.intermediate;
    this.#root = root;
    this.#intermediate = intermediate;
    this.#previousRootsPem = previousRootsPem;
  }

  static async create(opts: CreateCaOptions): Promise<CertificateAuthority> {
    const td = checkTrustDomain(opts.trustDomain);
    const clock = opts.clock ?? systemClock;
    const ttls = {
      root: checkTtl("rootTtlSeconds", opts.rootTtlSeconds, DEFAULT_ROOT_TTL_SECONDS),
      intermediate: checkTtl(
        "intermediateTtlSeconds",
        opts.intermediateTtlSeconds,
        DEFAULT_INTERMEDIATE_TTL_SECONDS,
      ),
    };
    const now = clock.now();
    const root = await makeCaCert("root", td, now, ttls.root, undefined);
    const intermediate = await makeCaCert("intermediate", td, now, ttls.intermediate, root);
    return new CertificateAuthority(td, clock, ttls, root, intermediate, []);
  }

  /** The trust anchors: the active root first, then any earlier root still trusted. */
  bundlePem(): string {
    return [this.#root.pem, ...this.#previousRootsPem].join("");
  }

  /** The active root alone. */
  rootPem(): string {
    return this.#root.pem;
  }

  intermediatePem(): string {
    return this.#intermediate.pem;
  }

  /** When the active intermediate stops being able to issue. */
  intermediateNotAfter(): Date {
    return this.#intermediate.cert.notAfter;
  }

  async issueSvid(opts: { path: string; ttlSeconds?: number }): Promise<Svid> {
    const path = workloadPath(opts.path);
    const keys = await generateP256();
    const signed = await this.#signLeaf(keys.publicKey, path, opts.ttlSeconds);
    return {
      spiffeId: `spiffe://${this.trustDomain}${path}`,
      certChainPem: signed.certChainPem,
      keyPem: toPem("PRIVATE KEY", await exportPkcs8(keys.privateKey)),
      bundlePem: this.bundlePem(),
      notBefore: signed.notBefore,
      notAfter: signed.notAfter,
    };
  }

  /**
   * Signs a PKCS#10 request: the signature proves possession of the key
   * (RFC 2986 section 3); only that key is taken from it.
   */
  async signCsr(opts: { csrPem: string; path: string; ttlSeconds?: number }): Promise<SignedCsr> {
    const path = workloadPath(opts.path);
    const bad = (why: string) => new ZenError("VALIDATION_FAILED", { message: `the CSR ${why}` });
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(opts.csrPem);
    } catch {
      throw bad("cannot be parsed");
    }
    const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
    if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") throw bad("must carry an ECDSA P-256 public key");
    let publicKey: CryptoKey;
    let verified = false;
    try {
      publicKey = await csr.publicKey.export(EC_P256, ["verify"]);
      verified = await csr.verify();
    } catch {
      throw bad("public key or signature is malformed");
    }
    if (!verified) throw bad("signature does not verify");
    return this.#signLeaf(publicKey, path, opts.ttlSeconds);
  }

  async #signLeaf(publicKey: CryptoKey, path: string, ttlSeconds: number | undefined): Promise<SignedCsr> {
    const ttl = checkTtl("ttlSeconds", ttlSeconds, DEFAULT_SVID_TTL_SECONDS);
    const issuer = this.#intermediate;
    const now = this.#clock.now();
    const notAfter = minDate(new Date(now.getTime() + ttl * 1000), issuer.cert.notAfter);
    const notBefore = new Date(now.getTime() - CLOCK_SKEW_SECONDS * 1000);
    if (notAfter.getTime() <= now.getTime()) {
      throw new ZenError("KEY_UNAVAILABLE", { message: "the CA's intermediate has expired; rotate it" });
    }
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${path.slice(1)}, O=zenmesh`,
      issuer: issuer.cert.subjectName,
      notBefore,
      notAfter,
      publicKey,
      signingKey: issuer.key,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([
          { type: "url", value: `spiffe://${this.trustDomain}${path}` },
        ]),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        new x509.AuthorityKeyIdentifierExtension(issuer.keyId, false),
      ],
    });
    // The certificate's own dates: DER time encoding drops milliseconds.
    return { certChainPem: certPem(cert) + issuer.pem, notBefore: cert.notBefore, notAfter: cert.notAfter };
  }

  /** A new intermediate under the same root; leaves issued before still chain to the root. */
  async rotateIntermediate(): Promise<void> {
    const now = this.#clock.now();
    if (this.#root.cert.notAfter.getTime() <= now.getTime()) {
      throw new ZenError("KEY_UNAVAILABLE", { message: "the CA root has expired; rotate the root" });
    }
    this.#intermediate = await makeCaCert(
      "intermediate",
      this.trustDomain,
      now,
      this.#intermediateTtl,
      this.#root,
    );
  }

  /**
   * A new root and intermediate. The previous root stays in the bundle so
   * leaves under it keep verifying until `retirePreviousRoots()`, which an
   * operator runs once every workload has renewed under the new root.
   */
  async rotateRoot(): Promise<void> {
    const now = this.#clock.now();
    const root = await makeCaCert("root", this.trustDomain, now, this.#rootTtl, undefined);
    const intermediate = await makeCaCert("intermediate", this.trustDomain, now, this.#intermediateTtl, root);
    this.#previousRootsPem = [this.#root.pem, ...this.#previousRootsPem];
    this.#root = root;
    this.#intermediate = intermediate;
  }

  retirePreviousRoots(): void {
    this.#previousRootsPem = [];
  }

  async export(masterKeys: MasterKeyRing): Promise<CaState> {
    const seal = async (role: "root" | "intermediate", s: Signer) => ({
      certPem: s.pem,
      sealedKey: sealCaKey(masterKeys, this.trustDomain, role, s.cert.serialNumber, await exportPkcs8(s.key)),
    });
    return {
      format: "zenmesh-ca/v1",
      trustDomain: this.trustDomain,
      rootTtlSeconds: this.#rootTtl,
      intermediateTtlSeconds: this.#intermediateTtl,
      root: await seal("root", this.#root),
      intermediate: await seal("intermediate", this.#intermediate),
      previousRootsPem: [...this.#previousRootsPem],
    };
  }

  /**
   * The CA kept in `file` (created on first use). A file for another trust
   * domain is refused rather than silently replaced.
   */
  static async loadOrCreate(
    file: string,
    opts: { trustDomain: string; masterKeys: MasterKeyRing; clock?: Clock },
  ): Promise<CertificateAuthority> {
    const td = checkTrustDomain(opts.trustDomain);
    for (let attempt = 0; attempt < 2; attempt++) {
      const existing = readCaStateFile(file);
      if (existing !== undefined) {
        const state = checkStateShape(existing);
        if (state.trustDomain !== td) {
          throw new ZenError("CONFIG_INVALID", {
            message: `the CA file ${file} belongs to trust domain ${JSON.stringify(state.trustDomain)}, not ${JSON.stringify(td)}`,
          });
        }
        return CertificateAuthority.load(state, opts.masterKeys, opts.clock);
      }
      const ca = await CertificateAuthority.create({
        trustDomain: td,
        ...(opts.clock ? { clock: opts.clock } : {}),
      });
      if (createCaStateFile(file, await ca.export(opts.masterKeys))) return ca;
    }
    throw new ZenError("CONFIG_INVALID", { message: `the CA file ${file} could not be created or read` });
  }

  /** Writes the current state to `file` atomically, e.g. after a rotation. */
  async save(file: string, masterKeys: MasterKeyRing): Promise<void> {
    replaceCaStateFile(file, await this.export(masterKeys));
  }

  static async load(state: CaState, masterKeys: MasterKeyRing, clock?: Clock): Promise<CertificateAuthority> {
    const s = checkStateShape(state);
    const td = checkTrustDomain(s.trustDomain);
    const root = await openSigner(s.root, masterKeys, td, "root");
    const intermediate = await openSigner(s.intermediate, masterKeys, td, "intermediate");
    const chained = await intermediate.cert
      .verify({ publicKey: root.cert.publicKey, signatureOnly: true })
      .catch(() => false);
    if (!chained || intermediate.cert.issuer !== root.cert.subject) throw tampered();
    const previous: string[] = [];
    for (const pem of s.previousRootsPem) {
      try {
        previous.push(certPem(new x509.X509Certificate(pem)));
      } catch {
        throw tampered();
      }
    }
    return new CertificateAuthority(
      td,
      clock ?? systemClock,
      {
        root: checkTtl("rootTtlSeconds", s.rootTtlSeconds, DEFAULT_ROOT_TTL_SECONDS),
        intermediate: checkTtl(
          "intermediateTtlSeconds",
          s.intermediateTtlSeconds,
          DEFAULT_INTERMEDIATE_TTL_SECONDS,
        ),
      },
      root,
      intermediate,
      previous,
    );
  }
}

function tampered(): ZenError {
  return new ZenError("CRYPTO_FAILED", { message: "the CA state does not verify" });
}

function checkStateShape(state: unknown): CaState {
  const o = state as Partial<CaState> | null;
  const pair = (p: unknown) =>
    typeof p === "object" &&
    p !== null &&
    typeof (p as { certPem?: unknown }).certPem === "string" &&
    typeof (p as { sealedKey?: unknown }).sealedKey === "string";
  if (
    typeof o !== "object" ||
    o === null ||
    o.format !== "zenmesh-ca/v1" ||
    typeof o.trustDomain !== "string" ||
    !pair(o.root) ||
    !pair(o.intermediate) ||
    !Array.isArray(o.previousRootsPem) ||
    !o.previousRootsPem.every((p) => typeof p === "string")
  ) {
    throw new ZenError("CONFIG_INVALID", { message: "the CA state is not a zenmesh-ca/v1 document" });
  }
  return o as CaState;
}

async function openSigner(
  pair: { certPem: string; sealedKey: string },
  masterKeys: MasterKeyRing,
  trustDomain: string,
  role: "root" | "intermediate",
): Promise<Signer> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(pair.certPem);
  } catch {
    throw tampered();
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === "url").map((n) => n.value) ?? [];
  if (!bc?.ca || uris.length !== 1 || uris[0] !== `spiffe://${trustDomain}`) throw tampered();
  const key = await openCaKey(masterKeys, pair.sealedKey, trustDomain, role, cert.serialNumber);
  if (!(await keyMatches(key, cert))) throw tampered();
  return signerOf(cert, key);
}

/** The sealed key must be the certificate's: compare the public point. */
async function keyMatches(key: CryptoKey, cert: x509.X509Certificate): Promise<boolean> {
  try {
    const priv = await globalThis.crypto.subtle.exportKey("jwk", key);
    const pub = await globalThis.crypto.subtle.exportKey(
      "jwk",
      await cert.publicKey.export(EC_P256, ["verify"]),
    );
    return priv.crv === "P-256" && priv.x === pub.x && priv.y === pub.y;
  } catch {
    return false;
  }
}
