/**
 * Admission on the public ingest listener: a signature header absent or
 * malformed is refused before the body is read, and connections and body
 * bytes in flight are capped per client and in all, each answered with its
 * own code and Retry-After. Clients are told apart by their loopback address
 * (127.0.0.1, 127.0.0.2, …), as the listener sees different peers.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { selfSignedServer } from "../../../test/support/delivery.ts";
import { errorCode } from "../../../test/support/mesh.ts";
import { rawRequest } from "../../../test/support/raw-http.ts";
import { clientKey } from "./limits.ts";
import { startTestIngest, type TestIngest } from "./testing.ts";

const MiB = 1024 * 1024;

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A TCP connection from `from`, open until destroyed. */
function open(url: string, from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port: portOf(url), host: "127.0.0.1", localAddress: from });
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

/** Writes request headers (and optionally part of a body) and resolves with the first answer's head. */
function exchangeHead(
  socket: Socket | TLSSocket,
  bytes: Buffer,
  timeoutMs = 5000,
): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      clearTimeout(timer);
      resolve({
        status: Number(buf.slice(9, 12)),
        head: buf.slice(0, end).toLowerCase(),
        body: buf.slice(end + 4, end + 4 + length),
      });
    });
    socket.on("error", () => {});
    socket.write(bytes);
  });
}

/** A POST to `path` with a Host header (HTTP/1.1 requires one). */
const post = (
  path: string,
  headers: [string, string][],
  body: Buffer | string,
  opts?: Parameters<typeof rawRequest>[4],
) => rawRequest("POST", path, [["host", "ingest.test"], ...headers], body, opts);

const settle = () => new Promise((r) => setTimeout(r, 50));

describe("ingest admission", () => {
  let ingest: TestIngest;
  const sockets: Socket[] = [];
  const secret = "the source's secret";

  before(async () => {
    ingest = await startTestIngest({
      limits: {
        maxConnections: 4,
        maxConnectionsPerClient: 2,
        maxInflightBytes: 3 * MiB,
        maxInflightBytesPerClient: 2 * MiB,
      },
    });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await ingest?.close();
  });

  const track = async (from: string) => {
    const s = await open(ingest.url, from);
    sockets.push(s);
    return s;
  };
  const dropAll = async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (let i = 0; i < 100 && ingest.load().connections > 0; i++) await settle();
  };

  test("the peer address is bucketed: IPv4 as is, IPv6 by its /64", () => {
    assert.equal(clientKey("203.0.113.7"), "203.0.113.7");
    assert.equal(clientKey("::ffff:203.0.113.7"), "203.0.113.7");
    assert.equal(clientKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(clientKey("2001:db8:1:2::ffff"), "2001:db8:1:2::/64");
    assert.equal(clientKey("2001:0db8:0001:0002:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(clientKey("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(clientKey("::1"), "0:0:0:0::/64");
  });

  test("a signature header absent or malformed is refused before the body is read", async () => {
    const source = await ingest.source("no-signature", [secret]);
    for (const [headers, reason] of [
      [[], "missing_signature"],
      [[["x-signature", "not hex at all"]], "malformed_signature"],
    ] as [[string, string][], string][]) {
      const s = await track("127.0.0.1");
      // Headers promise 8 MiB; not a byte of it is sent.
      const bytes = post(`/e/${source.id}`, [["content-type", "application/octet-stream"], ...headers], "", {
        contentLength: 8 * MiB,
      });
      const r = await exchangeHead(s, bytes);
      assert.equal(r.status, 401, r.head);
      const body = JSON.parse(r.body);
      assert.equal(body.error.code, "SIGNATURE_INVALID");
      assert.equal(body.error.details.reason, reason);
      assert.match(r.head, /connection: close/);
    }
    await dropAll();
  });

  test("connections over the per-client cap are answered 429, other clients still admitted", async () => {
    const source = await ingest.source("connections", [secret]);
    await track("127.0.0.1");
    await track("127.0.0.1");
    await settle();
    const body = Buffer.from('{"n":1}');
    const signed = Object.entries({
      ...ingest.sign(source, secret, body),
      "content-type": "application/json",
    });
    const third = await track("127.0.0.1");
    const r = await exchangeHead(third, post(`/e/${source.id}`, signed, body));
    assert.equal(r.status, 429, r.head);
    assert.equal(errorCode(r.body), "INGEST_CLIENT_LIMITED");
    assert.match(r.head, /retry-after: \d+/);
    const other = await track("127.0.0.2");
    const ok = await exchangeHead(other, post(`/e/${source.id}`, signed, body));
    assert.equal(ok.status, 202, ok.body);
    await dropAll();
  });

  test("connections over the global cap are answered 503 until one closes", async () => {
    const source = await ingest.source("global-connections", [secret]);
    const held = [
      await track("127.0.0.1"),
      await track("127.0.0.1"),
      await track("127.0.0.2"),
      await track("127.0.0.3"),
    ];
    await settle();
    const body = Buffer.from('{"n":2}');
    const signed = Object.entries({
      ...ingest.sign(source, secret, body),
      "content-type": "application/json",
    });
    const fifth = await track("127.0.0.4");
    const r = await exchangeHead(fifth, post(`/e/${source.id}`, signed, body));
    assert.equal(r.status, 503, r.head);
    assert.equal(errorCode(r.body), "INGEST_OVERLOADED");
    assert.match(r.head, /retry-after: \d+/);
    held[0]!.destroy();
    for (let i = 0; i < 100 && ingest.load().connections > 3; i++) await settle();
    const again = await track("127.0.0.4");
    const ok = await exchangeHead(again, post(`/e/${source.id}`, signed, body));
    assert.equal(ok.status, 202, ok.body);
    await dropAll();
  });

  test("a declared body that never comes holds none of the caps: another tenant's webhook still gets 202", async () => {
    const source = await ingest.source("declared-only", [secret]);
    const big = Object.entries({
      ...ingest.sign(source, "a wrong secret", Buffer.alloc(1.5 * MiB)),
      "content-type": "application/octet-stream",
    });
    // Two clients each declare 1.5 MiB (3 MiB, the global cap) and send no byte of it.
    const idle = [await track("127.0.0.1"), await track("127.0.0.2")];
    for (const s of idle) s.write(post(`/e/${source.id}`, big, "", { contentLength: 1.5 * MiB }));
    for (let i = 0; i < 4; i++) await settle();
    assert.equal(ingest.load().inflightBytes, 0, "nothing received, nothing held");

    const other = await ingest.source("declared-only-victim", [secret]);
    const body = Buffer.from('{"n":3}');
    const signed = Object.entries({
      ...ingest.sign(other, secret, body),
      "content-type": "application/json",
    });
    const victim = await track("127.0.0.3");
    const r = await exchangeHead(victim, post(`/e/${other.id}`, signed, body));
    assert.equal(r.status, 202, r.body);
    await dropAll();
  });

  test("body bytes in flight are counted as they arrive, capped per client (429) and in all (503)", async () => {
    const source = await ingest.source("bytes", [secret]);
    const declared = 1.5 * MiB;
    const headers = Object.entries({
      ...ingest.sign(source, "a wrong secret", Buffer.alloc(declared)),
      "content-type": "application/octet-stream",
    });
    const head = post(`/e/${source.id}`, headers, "", { contentLength: declared });
    // 1.2 MiB of a declared 1.5 MiB: held until the rest comes.
    const part = Buffer.alloc(1.2 * MiB, 1);
    const first = await track("127.0.0.1");
    first.write(Buffer.concat([head, part]));
    for (let i = 0; i < 100 && ingest.load().inflightBytes < part.length; i++) await settle();
    assert.equal(ingest.load().inflightBytes, part.length, "what arrived is held, not what was declared");

    // The same client's next 1 MiB passes its 2 MiB share while it streams in.
    const same = await track("127.0.0.1");
    const r1 = await exchangeHead(same, Buffer.concat([head, Buffer.alloc(MiB, 2)]));
    assert.equal(r1.status, 429, r1.head);
    assert.equal(errorCode(r1.body), "INGEST_CLIENT_LIMITED");
    assert.match(r1.head, /retry-after: \d+/);

    // Another client holds 1.2 MiB too (2.4 MiB in all); a third's 1 MiB passes the 3 MiB cap.
    const second = await track("127.0.0.2");
    second.write(Buffer.concat([head, part]));
    for (let i = 0; i < 100 && ingest.load().inflightBytes < 2 * part.length; i++) await settle();
    const third = await track("127.0.0.3");
    const r2 = await exchangeHead(third, Buffer.concat([head, Buffer.alloc(MiB, 3)]));
    assert.equal(r2.status, 503, r2.head);
    assert.equal(errorCode(r2.body), "INGEST_OVERLOADED");

    // The refused ones gave their bytes back; the held ones give theirs when they go.
    for (let i = 0; i < 100 && ingest.load().inflightBytes > 2 * part.length; i++) await settle();
    assert.equal(ingest.load().inflightBytes, 2 * part.length);
    await dropAll();
    for (let i = 0; i < 100 && ingest.load().inflightBytes > 0; i++) await settle();
    assert.equal(ingest.load().inflightBytes, 0);
  });

  test("a body of unknown length is counted as it streams and cut at the per-client cap", async () => {
    const source = await ingest.source("chunked", [secret]);
    const s = await track("127.0.0.5");
    const headers = Object.entries({
      ...ingest.sign(source, "a wrong secret", Buffer.alloc(0)),
      "content-type": "application/octet-stream",
      "transfer-encoding": "chunked",
    });
    const chunk = Buffer.alloc(256 * 1024, 2);
    const framed = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from("\r\n"),
    ]);
    const answer = exchangeHead(
      s,
      Buffer.concat([post(`/e/${source.id}`, headers, "", { contentLength: false }), framed]),
    );
    // 3 MiB offered in all, never the final chunk: the cap (2 MiB for one client) must cut it.
    for (let i = 0; i < 11; i++) s.write(framed);
    const r = await answer;
    assert.equal(r.status, 429, r.head);
    assert.equal(errorCode(r.body), "INGEST_CLIENT_LIMITED");
    assert.match(r.head, /connection: close/);
    await dropAll();
    assert.equal(ingest.load().inflightBytes, 0);
  });
});

describe("ingest admission over HTTPS", () => {
  let ingest: TestIngest;
  const sockets: TLSSocket[] = [];

  before(async () => {
    ingest = await startTestIngest({
      tls: await selfSignedServer(),
      limits: { maxConnections: 10, maxConnectionsPerClient: 1 },
    });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await ingest?.close();
  });

  const tlsOpen = (from: string) =>
    new Promise<TLSSocket>((resolve, reject) => {
      const tcp = connect({ port: portOf(ingest.url), host: "127.0.0.1", localAddress: from });
      const s = tlsConnect({ socket: tcp, rejectUnauthorized: false });
      sockets.push(s);
      s.once("secureConnect", () => resolve(s));
      s.once("error", reject);
    });

  test("a TLS connection over the per-client cap is answered 429 over TLS", async () => {
    const secret = "tls secret";
    const source = await ingest.source("tls", [secret]);
    const body = Buffer.from('{"n":3}');
    const signed = Object.entries({
      ...ingest.sign(source, secret, body),
      "content-type": "application/json",
    });
    const first = await tlsOpen("127.0.0.1");
    const second = await tlsOpen("127.0.0.1");
    const refused = await exchangeHead(second, post(`/e/${source.id}`, signed, body));
    assert.equal(refused.status, 429, refused.head);
    assert.equal(errorCode(refused.body), "INGEST_CLIENT_LIMITED");
    const ok = await exchangeHead(first, post(`/e/${source.id}`, signed, body));
    assert.equal(ok.status, 202, ok.body);
  });
});
