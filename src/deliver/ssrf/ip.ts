/**
 * IP literals and what they point at, for the egress SSRF defence.
 *
 * Guards against a webhook target that names an internal address in a
 * notation a naive check misses: IPv4 in the shortened, decimal, hex and octal
 * forms WHATWG URL host parsing and inet_aton accept, and IPv4 hidden inside
 * IPv6 (IPv4-mapped and -compatible, NAT64 per RFC 6052 / RFC 8215, 6to4 per
 * RFC 3056), whose embedded address decides. Classes follow the RFC 6890
 * special-purpose registries (RFC 1918 private, RFC 6598 shared/CGNAT,
 * RFC 4193 unique local, RFC 3927 / RFC 4291 link-local) plus the cloud
 * metadata endpoints. IPv6 outside 2000::/3 is treated as reserved: nothing
 * global is allocated there.
 */
import type { Result } from "../../core/index.ts";

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  bytes: Uint8Array;
}

export type AddressClass =
  | "public"
  | "loopback"
  | "private"
  | "link_local"
  | "cgnat"
  | "multicast"
  | "unspecified"
  | "metadata"
  | "reserved"
  | "broadcast"
  | "documentation";

export interface Cidr {
  family: IpFamily;
  /** The network address: host bits are zero. */
  bytes: Uint8Array;
  prefix: number;
}

// WHATWG "IPv4 number parser": 0x → hex (may be empty), leading 0 → octal, else decimal.
const V4_NUMBER = /^(?:0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const DOTTED_QUAD = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function v4Number(part: string): number | null {
  if (!V4_NUMBER.test(part)) return null;
  if (part[1] === "x" || part[1] === "X") return part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  if (part[0] === "0" && part.length > 1) return Number.parseInt(part.slice(1), 8);
  return Number.parseInt(part, 10);
}

function parseIpv4(host: string): Uint8Array | null {
  const parts = host.split(".");
  // WHATWG drops one empty trailing label ("127.0.0.1." is 127.0.0.1).
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  if (parts.length > 4) return null;
  const nums: number[] = [];
  for (const part of parts) {
    const n = v4Number(part);
    if (n === null) return null;
    nums.push(n);
  }
  const last = nums.pop();
  if (last === undefined || nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
  let value = last;
  nums.forEach((n, i) => {
    value += n * 256 ** (3 - i);
  });
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function hexWords(groups: string[], v4Last: boolean): number[] | null {
  const words: number[] = [];
  for (const [i, g] of groups.entries()) {
    if (HEX_GROUP.test(g)) {
      words.push(Number.parseInt(g, 16));
    } else if (v4Last && i === groups.length - 1 && DOTTED_QUAD.test(g)) {
      const [a = 0, b = 0, c = 0, d = 0] = g.split(".").map(Number);
      words.push((a << 8) | b, (c << 8) | d);
    } else {
      return null;
    }
  }
  return words;
}

function parseIpv6(text: string): Uint8Array | null {
  // Zone ids name an interface, not a destination: never a webhook target.
  if (text.includes("%")) return null;
  const gap = text.indexOf("::");
  if (gap !== -1 && text.includes("::", gap + 1)) return null;
  let words: number[];
  if (gap === -1) {
    const all = hexWords(text.split(":"), true);
    if (all === null || all.length !== 8) return null;
    words = all;
  } else {
    const headText = text.slice(0, gap);
    const tailText = text.slice(gap + 2);
    const head = hexWords(headText === "" ? [] : headText.split(":"), false);
    const tail = hexWords(tailText === "" ? [] : tailText.split(":"), true);
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** An IP literal in any notation a URL host may use; null when `host` is a name (or malformed). */
export function parseIpLiteral(host: string): IpAddress | null {
  if (host.startsWith("[")) {
    if (!host.endsWith("]")) return null;
    const bytes = parseIpv6(host.slice(1, -1));
    return bytes === null ? null : { family: 6, bytes };
  }
  if (host.includes(":")) {
    const bytes = parseIpv6(host);
    return bytes === null ? null : { family: 6, bytes };
  }
  const bytes = parseIpv4(host);
  return bytes === null ? null : { family: 4, bytes };
}

function isV4Mapped(bytes: Uint8Array): boolean {
  return (
    bytes.length === 16 &&
    bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff &&
    bytes[11] === 0xff
  );
}

/** The IPv4 address behind an IPv4-mapped IPv6 address, else the address itself. */
export function unmapIpv4(addr: IpAddress): IpAddress {
  return addr.family === 6 && isV4Mapped(addr.bytes) ? { family: 4, bytes: addr.bytes.slice(12) } : addr;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (IPv4-mapped shown as ::ffff:a.b.c.d). */
export function formatIp(bytes: Uint8Array, family: IpFamily): string {
  if (family === 4) return Array.from(bytes.subarray(0, 4)).join(".");
  if (isV4Mapped(bytes)) return `::ffff:${formatIp(bytes.subarray(12), 4)}`;
  const words = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best === -1) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function strictAddress(text: string): IpAddress | null {
  if (text.includes(":")) {
    const bytes = parseIpv6(text);
    return bytes === null ? null : { family: 6, bytes };
  }
  // Shorthand like "10.1" means 10.0.0.1 to inet_aton but 10.1.0.0 to a reader: refuse it in config.
  return DOTTED_QUAD.test(text) ? { family: 4, bytes: parseIpv4(text) ?? new Uint8Array(4) } : null;
}

function masked(bytes: Uint8Array, prefix: number): Uint8Array {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    return b & (0xff << (8 - keep)) & 0xff;
  });
}

function parseCidr(entry: string): Result<Cidr, string> {
  const shown = JSON.stringify(entry.length > 64 ? `${entry.slice(0, 64)}…` : entry);
  const slash = entry.indexOf("/");
  const addrText = slash === -1 ? entry : entry.slice(0, slash);
  const addr = strictAddress(addrText);
  if (addr === null) {
    return { ok: false, reason: `${shown} is not a CIDR: expected a dotted-quad IPv4 or an IPv6 address` };
  }
  const max = addr.family === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : entry.slice(slash + 1);
  const prefix = /^(?:0|[1-9]\d{0,2})$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix <= max))
    return { ok: false, reason: `${shown} is not a CIDR: the prefix length must be 0..${max}` };
  const net = masked(addr.bytes, prefix);
  if (!net.every((b, i) => b === addr.bytes[i])) {
    const hint = `${formatIp(net, addr.family)}/${prefix}`;
    return { ok: false, reason: `${shown} has host bits set (the network is ${hint})` };
  }
  return { ok: true, value: { family: addr.family, bytes: net, prefix } };
}

/** A comma-separated allow-list; a bare address means /32 or /128. */
export function parseCidrList(text: string): Result<Cidr[], string> {
  const out: Cidr[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const cidr = parseCidr(entry);
    if (!cidr.ok) return cidr;
    out.push(cidr.value);
  }
  return { ok: true, value: out };
}

function inCidr(c: Cidr, bytes: Uint8Array, family: IpFamily): boolean {
  if (c.family !== family) return false;
  const net = masked(bytes, c.prefix);
  return net.every((b, i) => b === c.bytes[i]);
}

function mapped(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4.subarray(0, 4), 12);
  return out;
}

/** IPv4-mapped IPv6 and plain IPv4 are one address: each matches the other family's CIDRs. */
export function cidrContains(cidrs: readonly Cidr[], bytes: Uint8Array, family: IpFamily): boolean {
  const alt: IpAddress | null =
    family === 4
      ? { family: 6, bytes: mapped(bytes) }
      : isV4Mapped(bytes)
        ? { family: 4, bytes: bytes.slice(12) }
        : null;
  return cidrs.some((c) => inCidr(c, bytes, family) || (alt !== null && inCidr(c, alt.bytes, alt.family)));
}

type Rule =
  | { cidr: Cidr; cls: AddressClass }
  /** The class of the IPv4 address at byte `embedAt`, or `otherwise` when that one is public. */
  | { cidr: Cidr; embedAt: number; otherwise: AddressClass };

function rules(list: [string, AddressClass | { embedAt: number; otherwise: AddressClass }][]): Rule[] {
  return list.map(([text, what]) => {
    const cidr = parseCidr(text);
    if (!cidr.ok) throw new Error(`bad built-in CIDR ${text}: ${cidr.reason}`);
    return typeof what === "string" ? { cidr: cidr.value, cls: what } : { cidr: cidr.value, ...what };
  });
}

// First match wins, so narrower blocks come before the blocks that contain them.
const V4_RULES = rules([
  ["0.0.0.0/8", "unspecified"],
  ["10.0.0.0/8", "private"],
  ["100.100.100.200/32", "metadata"],
  ["100.64.0.0/10", "cgnat"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.169.254/32", "metadata"],
  ["169.254.170.2/32", "metadata"],
  ["169.254.0.0/16", "link_local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"],
  ["192.0.2.0/24", "documentation"],
  ["192.88.99.0/24", "reserved"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "reserved"],
  ["198.51.100.0/24", "documentation"],
  ["203.0.113.0/24", "documentation"],
  ["224.0.0.0/4", "multicast"],
  ["255.255.255.255/32", "broadcast"],
  ["240.0.0.0/4", "reserved"],
]);

const V6_RULES = rules([
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::ffff:0:0/96", { embedAt: 12, otherwise: "public" }],
  ["::/96", { embedAt: 12, otherwise: "public" }],
  ["64:ff9b::/96", { embedAt: 12, otherwise: "public" }],
  // RFC 8215 local-use NAT64 is never globally reachable, whatever it embeds.
  ["64:ff9b:1::/48", { embedAt: 12, otherwise: "private" }],
  ["100::/64", "reserved"],
  ["2001:db8::/32", "documentation"],
  ["2001::/23", "reserved"],
  ["2002::/16", { embedAt: 2, otherwise: "public" }],
  ["3fff::/20", "documentation"],
  ["5f00::/16", "reserved"],
  ["fd00:ec2::254/128", "metadata"],
  ["fc00::/7", "private"],
  ["fe80::/10", "link_local"],
  ["fec0::/10", "private"],
  ["ff00::/8", "multicast"],
]);

const GLOBAL_UNICAST = rules([["2000::/3", "public"]])[0]!.cidr;

/** What an address points at. Only "public" is deliverable without an allow-list. */
export function classifyAddress(bytes: Uint8Array, family: IpFamily): AddressClass {
  if (bytes.length !== (family === 4 ? 4 : 16))
    throw new Error(`an IPv${family} address has the wrong length`);
  for (const rule of family === 4 ? V4_RULES : V6_RULES) {
    if (!inCidr(rule.cidr, bytes, family)) continue;
    if ("cls" in rule) return rule.cls;
    const inner = classifyAddress(bytes.slice(rule.embedAt, rule.embedAt + 4), 4);
    return inner === "public" ? rule.otherwise : inner;
  }
  if (family === 6 && !inCidr(GLOBAL_UNICAST, bytes, 6)) return "reserved";
  return "public";
}
