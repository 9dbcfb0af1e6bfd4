/**
 * DER helpers for the SPIFFE Workload API, whose X.509-SVID messages carry
 * certificate chains and bundles as ASN.1 DER certificates simply
 * concatenated (X509-SVID spec section 5; Workload API `x509_svid`, `bundle`).
 *
 * Splitting reads each top-level SEQUENCE header (ITU-T X.690 8.1.3): short
 * and long-form lengths, rejecting the indefinite form and non-minimal
 * lengths that DER forbids, and any trailing bytes, so a truncated or padded
 * chain is an error rather than a silently shorter one.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(`DER: ${message}`);
    this.name = "DerError";
  }
}

const SEQUENCE = 0x30;

/** Splits concatenated DER SEQUENCEs (certificates) into one array per element. */
export function splitDerSequences(der: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < der.length) {
    const start = pos;
    if (der[pos] !== SEQUENCE) throw new DerError(`expected SEQUENCE at offset ${pos}`);
    pos++;
    if (pos >= der.length) throw new DerError("truncated length");
    const first = der[pos++]!;
    let length: number;
    if (first < 0x80) {
      length = first;
    } else if (first === 0x80) {
      throw new DerError("indefinite length is not DER");
    } else {
      const count = first & 0x7f;
      // Four length octets already allow 4 GiB; anything longer is not a certificate.
      if (count > 4) throw new DerError("length field too long");
      if (pos + count > der.length) throw new DerError("truncated length");
      if (der[pos] === 0) throw new DerError("non-minimal length");
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + der[pos++]!;
      if (length < 0x80) throw new DerError("non-minimal length");
    }
    if (length > der.length - pos) throw new DerError(`element at offset ${start} is truncated`);
    pos += length;
    out.push(der.subarray(start, pos));
  }
  return out;
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export function certificateToPem(der: Uint8Array): string {
  return pem("CERTIFICATE", der);
}

/** Concatenated DER certificates → concatenated PEM blocks, in the same order. */
export function certificatesToPem(der: Uint8Array): string {
  return splitDerSequences(der).map(certificateToPem).join("");
}

/** A PKCS#8 DER private key → `PRIVATE KEY` PEM. */
export function pkcs8ToPem(der: Uint8Array): string {
  return pem("PRIVATE KEY", der);
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----/g;

/** The DER bodies of every PEM block with this label, in order. */
export function pemToDer(pem: string, label: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (m[1] === label) out.push(new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ""), "base64")));
  }
  return out;
}

export function concatDer(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
