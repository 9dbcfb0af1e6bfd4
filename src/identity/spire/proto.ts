/**
 * A small, exact proto3 codec for the three messages of the SPIFFE Workload
 * API's X.509-SVID profile (SPIFFE Workload API spec, `workload.proto`):
 *
 *   message X509SVIDRequest {}
 *   message X509SVIDResponse {
 *     repeated X509SVID svids = 1;
 *     repeated bytes crl = 2;
 *     map<string, bytes> federated_bundles = 3;
 *   }
 *   message X509SVID {
 *     string spiffe_id = 1; bytes x509_svid = 2; bytes x509_svid_key = 3;
 *     bytes bundle = 4; string hint = 5;
 *   }
 *
 * Hand-written so the process does not load a general protobuf runtime for
 * three messages. It follows the protobuf encoding spec: unknown fields of
 * every wire type (including groups) are skipped, a known field arriving with
 * an unexpected wire type is treated as unknown (as protobuf-go and C++ do),
 * proto3 strings must be valid UTF-8, and any truncation or malformed varint
 * is an error rather than a silently shortened message. The decoded key
 * material is only held in memory; nothing here logs.
 */

export type X509SvidRequest = Record<string, never>;

export interface X509SvidMessage {
  spiffeId: string;
  /** DER certificates concatenated, leaf first. */
  x509Svid: Uint8Array;
  /** PKCS#8 DER private key of the leaf. */
  x509SvidKey: Uint8Array;
  /** DER certificates concatenated: the trust domain's roots. */
  bundle: Uint8Array;
  hint: string;
}

export interface X509SvidResponse {
  svids: X509SvidMessage[];
  crl: Uint8Array[];
  /** Trust domain (SPIFFE ID of the foreign domain) → DER certificates concatenated. */
  federatedBundles: Map<string, Uint8Array>;
}

export class ProtoDecodeError extends Error {
  constructor(message: string) {
    super(`protobuf decode: ${message}`);
    this.name = "ProtoDecodeError";
  }
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

// Deeply nested groups in unknown fields could otherwise exhaust the stack.
const MAX_GROUP_DEPTH = 64;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

class Reader {
  pos = 0;
  readonly buf: Uint8Array;
  readonly end: number;
  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.end = buf.length;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Unsigned varint up to 2^53 - 1; larger values are never lengths or tags we accept. */
  varint(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoDecodeError("truncated varint");
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (i === 9 && byte > 1) throw new ProtoDecodeError("varint overflows 64 bits");
        return result;
      }
      multiplier *= 128;
    }
    throw new ProtoDecodeError("varint longer than 10 bytes");
  }

  skipVarint(): void {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoDecodeError("truncated varint");
      const byte = this.buf[this.pos++]!;
      if ((byte & 0x80) === 0) {
        if (i === 9 && byte > 1) throw new ProtoDecodeError("varint overflows 64 bits");
        return;
      }
    }
    throw new ProtoDecodeError("varint longer than 10 bytes");
  }

  skipBytes(n: number): void {
    if (n > this.end - this.pos) throw new ProtoDecodeError("truncated field");
    this.pos += n;
  }

  /** Returns [fieldNumber, wireType]. */
  tag(): [number, number] {
    const tag = this.varint();
    if (tag > 0xffffffff) throw new ProtoDecodeError("tag out of range");
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw new ProtoDecodeError("field number 0");
    return [field, wire];
  }

  lengthDelimited(): Uint8Array {
    const len = this.varint();
    if (len > this.end - this.pos) throw new ProtoDecodeError("length exceeds message");
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(field: number, wire: number, depth = 0): void {
    switch (wire) {
      case WIRE_VARINT:
        this.skipVarint();
        return;
      case WIRE_FIXED64:
        this.skipBytes(8);
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_FIXED32:
        this.skipBytes(4);
        return;
      case WIRE_START_GROUP: {
        if (depth >= MAX_GROUP_DEPTH) throw new ProtoDecodeError("groups nested too deeply");
        for (;;) {
          if (this.done) throw new ProtoDecodeError("unterminated group");
          const [f, w] = this.tag();
          if (w === WIRE_END_GROUP) {
            if (f !== field) throw new ProtoDecodeError("mismatched end group");
            return;
          }
          this.skip(f, w, depth + 1);
        }
      }
      case WIRE_END_GROUP:
        throw new ProtoDecodeError("unexpected end group");
      default:
        throw new ProtoDecodeError(`invalid wire type ${wire}`);
    }
  }
}

function copy(bytes: Uint8Array): Uint8Array {
  // Decoded fields must not alias gRPC's receive buffer, which may be reused.
  return Uint8Array.prototype.slice.call(bytes);
}

function decodeString(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ProtoDecodeError("string field is not valid UTF-8");
  }
}

export function decodeX509SvidRequest(buf: Uint8Array): X509SvidRequest {
  const r = new Reader(buf);
  while (!r.done) {
    const [field, wire] = r.tag();
    r.skip(field, wire);
  }
  return {};
}

export function decodeX509Svid(buf: Uint8Array): X509SvidMessage {
  const msg: X509SvidMessage = {
    spiffeId: "",
    x509Svid: new Uint8Array(0),
    x509SvidKey: new Uint8Array(0),
    bundle: new Uint8Array(0),
    hint: "",
  };
  const r = new Reader(buf);
  while (!r.done) {
    const [field, wire] = r.tag();
    if (wire !== WIRE_LEN || field > 5) {
      r.skip(field, wire);
      continue;
    }
    // Singular scalar fields: the last occurrence wins.
    const value = r.lengthDelimited();
    if (field === 1) msg.spiffeId = decodeString(value);
    else if (field === 2) msg.x509Svid = copy(value);
    else if (field === 3) msg.x509SvidKey = copy(value);
    else if (field === 4) msg.bundle = copy(value);
    else msg.hint = decodeString(value);
  }
  return msg;
}

function decodeMapEntry(buf: Uint8Array): [string, Uint8Array] {
  let key = "";
  let value: Uint8Array = new Uint8Array(0);
  const r = new Reader(buf);
  while (!r.done) {
    const [field, wire] = r.tag();
    if (wire === WIRE_LEN && field === 1) key = decodeString(r.lengthDelimited());
    else if (wire === WIRE_LEN && field === 2) value = copy(r.lengthDelimited());
    else r.skip(field, wire);
  }
  return [key, value];
}

export function decodeX509SvidResponse(buf: Uint8Array): X509SvidResponse {
  const msg: X509SvidResponse = { svids: [], crl: [], federatedBundles: new Map() };
  const r = new Reader(buf);
  while (!r.done) {
    const [field, wire] = r.tag();
    if (wire !== WIRE_LEN || field > 3) {
      r.skip(field, wire);
      continue;
    }
    const value = r.lengthDelimited();
    if (field === 1) msg.svids.push(decodeX509Svid(value));
    else if (field === 2) msg.crl.push(copy(value));
    else {
      // Map entries: a repeated entry message; a later duplicate key wins.
      const [k, v] = decodeMapEntry(value);
      msg.federatedBundles.set(k, v);
    }
  }
  return msg;
}

class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`);
    const out: number[] = [];
    let v = value;
    while (v >= 0x80) {
      out.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
    this.push(Uint8Array.from(out));
  }

  bytesField(field: number, value: Uint8Array): void {
    this.varint(field * 8 + WIRE_LEN);
    this.varint(value.length);
    this.push(value);
  }

  stringField(field: number, value: string): void {
    this.bytesField(field, utf8Encoder.encode(value));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

export function encodeX509SvidRequest(_msg: X509SvidRequest): Uint8Array {
  return new Uint8Array(0);
}

export function encodeX509Svid(msg: X509SvidMessage): Uint8Array {
  // proto3 omits singular fields that hold their default (empty) value.
  const w = new Writer();
  if (msg.spiffeId !== "") w.stringField(1, msg.spiffeId);
  if (msg.x509Svid.length > 0) w.bytesField(2, msg.x509Svid);
  if (msg.x509SvidKey.length > 0) w.bytesField(3, msg.x509SvidKey);
  if (msg.bundle.length > 0) w.bytesField(4, msg.bundle);
  if (msg.hint !== "") w.stringField(5, msg.hint);
  return w.finish();
}

export function encodeX509SvidResponse(msg: X509SvidResponse): Uint8Array {
  const w = new Writer();
  for (const svid of msg.svids) w.bytesField(1, encodeX509Svid(svid));
  // Repeated elements are kept even when empty: their count is meaningful.
  for (const crl of msg.crl) w.bytesField(2, crl);
  for (const [key, value] of msg.federatedBundles) {
    const entry = new Writer();
    entry.stringField(1, key);
    entry.bytesField(2, value);
    w.bytesField(3, entry.finish());
  }
  return w.finish();
}
