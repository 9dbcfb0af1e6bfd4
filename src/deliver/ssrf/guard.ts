/**
 * Decides whether a webhook destination URL may be contacted, and which one
 * address to contact.
 *
 * Guards against server-side request forgery: targets that are, or resolve
 * to, loopback, private, link-local, metadata or other special-purpose
 * addresses (see ip.ts for the RFC 6890 classes), a name with one public and
 * one internal record, credentials smuggled in the URL, and plain http to
 * anything but a deliberately allow-listed receiver, and zenmesh's own
 * listeners (system-listeners.ts), which no allow-list opens. Hosts are read the way
 * WHATWG URL host parsing reads them. Every A/AAAA answer is checked, and the
 * caller must connect to the returned address only (pinning), so a DNS answer
 * that changes between check and connect cannot move the socket.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import {
  type AddressClass,
  type Cidr,
  cidrContains,
  classifyAddress,
  formatIp,
  type IpAddress,
  parseIpLiteral,
  unmapIpv4,
} from "./ip.ts";
import { type ListenerAddress, systemListenerAt } from "./system-listeners.ts";

export type Lookup = (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;

/** Every A and AAAA record, in resolver order; `localhost` is a name like any other. */
export const systemLookup: Lookup = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, order: "verbatim" });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export const DEFAULT_LOOKUP_TIMEOUT_MS = 5000;

/** Address classes refused even inside the operator's allow-list. */
export const NEVER_OPENED: ReadonlySet<AddressClass> = new Set([
  "metadata",
  "unspecified",
  "multicast",
  "broadcast",
]);

export interface GuardOptions {
  lookup: Lookup;
  /** Opens otherwise forbidden ranges, and is the only place plain http may go. */
  allowCidrs: readonly Cidr[];
  allowPlainHttp: boolean;
  lookupTimeoutMs?: number;
  /** zenmesh's own listeners: refused whatever `allowCidrs` says. */
  systemListeners?: readonly ListenerAddress[];
}

export type GuardRefusal =
  | "invalid_url"
  | "scheme_not_allowed"
  | "plain_http_not_allowed"
  | "credentials_in_url"
  | "dns_failed"
  | "no_address"
  | "address_forbidden"
  | "system_listener";

export interface CheckedDestination {
  /** The URL to request; a trailing dot on the host is removed. */
  url: URL;
  /** The host as used for SNI and certificate checks: no trailing dot, no IPv6 brackets. */
  hostname: string;
  /** The one address to connect to. */
  address: string;
  family: 4 | 6;
}

export type GuardResult =
  | { ok: true; value: CheckedDestination }
  | { ok: false; reason: GuardRefusal; detail: string };

function refuse(reason: GuardRefusal, detail: string): GuardResult {
  return { ok: false, reason, detail };
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code) ? code : "lookup error";
}

async function resolveWithin(
  lookup: Lookup,
  hostname: string,
  ms: number,
): Promise<{ ok: true; answers: { address: string }[] } | { ok: false; why: string }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    const answers = await Promise.race([lookup(hostname), deadline]);
    if (answers === "timeout") return { ok: false, why: `timed out after ${ms} ms` };
    return { ok: true, answers };
  } catch (err) {
    return { ok: false, why: errorCode(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** Checks a destination before anything is sent to it. Refusals are values; it never throws. */
export async function checkDestinationUrl(raw: string, opts: GuardOptions): Promise<GuardResult> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("invalid_url", "not a valid absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return refuse("scheme_not_allowed", `${url.protocol} is not allowed; use https:`);
  }
  if (url.username !== "" || url.password !== "") {
    return refuse("credentials_in_url", "credentials in the URL are not allowed; send them in a header");
  }
  const plain = url.protocol === "http:";
  if (plain && !opts.allowPlainHttp) {
    return refuse("plain_http_not_allowed", "plain http is not allowed; use https:");
  }

  let hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (hostname.endsWith(".")) {
    hostname = hostname.slice(0, -1);
    if (hostname === "" || hostname.endsWith(".")) return refuse("invalid_url", "the host name is empty");
    url.hostname = hostname;
  }

  const literal = parseIpLiteral(hostname);
  const addresses: IpAddress[] = [];
  if (literal !== null) {
    addresses.push(literal);
  } else {
    const ms = opts.lookupTimeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS;
    const resolved = await resolveWithin(opts.lookup, hostname, ms);
    if (!resolved.ok) return refuse("dns_failed", `${hostname} did not resolve (${resolved.why})`);
    if (resolved.answers.length === 0) return refuse("no_address", `${hostname} has no A or AAAA record`);
    for (const answer of resolved.answers) {
      const parsed = typeof answer.address === "string" ? parseIpLiteral(answer.address) : null;
      if (parsed === null) {
        return refuse("dns_failed", `${hostname} resolved to something that is not an address`);
      }
      addresses.push(parsed);
    }
  }

  const port = url.port === "" ? (plain ? 80 : 443) : Number(url.port);
  const own = opts.systemListeners ?? [];
  for (const addr of addresses) {
    const text = formatIp(addr.bytes, addr.family);
    const subject = literal === null ? `${hostname} resolves to ${text}, which` : text;
    // Before the allow-list: allow-listing loopback for a receiver does not open zenmesh itself.
    if (own.length > 0 && systemListenerAt(own, addr, port) !== undefined) {
      return refuse("system_listener", `${subject} on port ${port} is zenmesh's own listener`);
    }
    const allowListed = cidrContains(opts.allowCidrs, addr.bytes, addr.family);
    const cls = classifyAddress(addr.bytes, addr.family);
    // No allow-list opens these: cloud metadata is the classic SSRF prize, and the others are no receiver.
    if (NEVER_OPENED.has(cls)) return refuse("address_forbidden", `${subject} is ${cls}`);
    if (cls !== "public" && !allowListed) return refuse("address_forbidden", `${subject} is ${cls}`);
    if (plain && !allowListed) {
      return refuse("plain_http_not_allowed", `${subject} is not allow-listed for plain http`);
    }
  }

  // Connecting to a mapped address needs a dual-stack socket; the IPv4 address itself does not.
  const first = unmapIpv4(addresses[0]!);
  return {
    ok: true,
    value: { url, hostname, address: formatIp(first.bytes, first.family), family: first.family },
  };
}
