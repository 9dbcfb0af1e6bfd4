/**
 * Real servers on loopback (127.0.0.1 and 127.0.0.2 only): every refusal is
 * proved by the target's connection count staying at zero.
 */
import assert from "node:assert/strict";
import { randomBytes, X509Certificate } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type ServerOptions } from "node:https";
import { afterEach, before, describe, test } from "node:test";
import { setImmediate } from "node:timers/promises";
import type { TLSSocket } from "node:tls";
import { ECDSA_SHA256, exportPkcs8, generateP256, toPem, x509 } from "../../identity/x509.ts";
import type { Lookup } from "../ssrf/guard.ts";
import { type Cidr, parseCidrList } from "../ssrf/ip.ts";
import {
  type AttemptOutcome,
  createSender,
  type OutboundRequest,
  type Sender,
  sanitizeExcerpt,
} from "./sender.ts";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  servername: string | false | null | undefined;
  peerFingerprint: string | undefined;
}

interface TestServer {
  port: number;
  connections: number;
  seen: Seen[];
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function serve(
  handler: Handler,
  opts: { host?: string; port?: number; tls?: ServerOptions } = {},
): Promise<TestServer> {
  const server: Server = opts.tls === undefined ? createHttpServer() : createHttpsServer(opts.tls);
  const state: TestServer = { port: 0, connections: 0, seen: [] };
  server.on("connection", () => state.connections++);
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const socket = req.socket as Partial<TLSSocket>;
      state.seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        servername: socket.servername,
        peerFingerprint: socket.getPeerCertificate?.()?.fingerprint256,
      });
      handler(req, res);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => {
      const addr = server.address();
      state.port = typeof addr === "object" && addr !== null ? addr.port : 0;
      cleanups.push(async () => {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      });
      resolve(state);
    });
  });
}

const answer =
  (status: number, body = "ok", headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "text/plain", ...headers });
    res.end(body);
  };

function sender(opts: Parameters<typeof createSender>[0] = {}): Sender {
  const s = createSender(opts);
  cleanups.push(() => s.close());
  return s;
}

function cidrs(text: string): Cidr[] {
  const r = parseCidrList(text);
  assert.ok(r.ok);
  return r.value;
}

function fakeLookup(table: Record<string, string[]>): Lookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup: Lookup = async (hostname) => {
    calls.push(hostname);
    return (table[hostname] ?? []).map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(lookup, { calls });
}

const SECRET = "Bearer s3cret-credential";

function outbound(url: string, over: Partial<OutboundRequest> = {}): OutboundRequest {
  return {
    url,
    method: "POST",
    headers: { "content-type": "application/json", authorization: SECRET },
    body: Buffer.from('{"hello":"world"}'),
    timeoutMs: 2000,
    allowPlainHttp: true,
    ...over,
  };
}

function expectKind<K extends AttemptOutcome["kind"]>(
  o: AttemptOutcome,
  kind: K,
): Extract<AttemptOutcome, { kind: K }> {
  assert.equal(o.kind, kind, JSON.stringify(o));
  return o as Extract<AttemptOutcome, { kind: K }>;
}

const LOOPBACK = cidrs("127.0.0.1/32");

describe("createSender: the SSRF guard holds before any socket opens", () => {
  test("refuses every IP-literal spelling of loopback with zero connections", async () => {
    const target = await serve(answer(200));
    const s = sender({ lookup: fakeLookup({}) });
    const p = target.port;
    const urls = [
      `http://127.0.0.1:${p}/`,
      `http://127.1:${p}/`,
      `http://0x7f000001:${p}/`,
      `http://2130706433:${p}/`,
      `http://0177.0.0.1:${p}/`,
      `http://[::ffff:127.0.0.1]:${p}/`,
      `https://127.1:${p}/`,
    ];
    for (const url of urls) {
      const o = expectKind(await s.send(outbound(url)), "refused");
      assert.equal(o.reason, "address_forbidden", url);
      assert.match(o.detail, /127\.0\.0\.1 is loopback/);
    }
    assert.equal(target.connections, 0);
  });

  test("refuses a name that resolves to loopback with zero connections", async () => {
    const target = await serve(answer(200));
    const s = sender({ lookup: fakeLookup({ "evil.test": ["127.0.0.1"] }) });
    for (const scheme of ["http", "https"]) {
      const o = expectKind(await s.send(outbound(`${scheme}://evil.test:${target.port}/`)), "refused");
      assert.equal(o.reason, "address_forbidden");
    }
    assert.equal(target.connections, 0);
  });

  test("refuses a name with one public and one internal record with zero connections", async () => {
    const target = await serve(answer(200));
    const s = sender({
      lookup: fakeLookup({
        "mixed.test": ["203.0.114.10", "127.0.0.1"],
        "mixed2.test": ["127.0.0.1", "203.0.114.10"],
      }),
    });
    for (const host of ["mixed.test", "mixed2.test"]) {
      const o = expectKind(await s.send(outbound(`https://${host}:${target.port}/`)), "refused");
      assert.equal(o.reason, "address_forbidden");
    }
    // With loopback allow-listed, plain http still needs every record allow-listed.
    const listed = sender({
      lookup: fakeLookup({ "mixed2.test": ["127.0.0.1", "203.0.114.10"] }),
      allowCidrs: LOOPBACK,
    });
    const o = expectKind(await listed.send(outbound(`http://mixed2.test:${target.port}/`)), "refused");
    assert.equal(o.reason, "plain_http_not_allowed");
    assert.equal(target.connections, 0);
  });

  test("refuses plain http unless the request allows it", async () => {
    const target = await serve(answer(200));
    const s = sender({ allowCidrs: LOOPBACK });
    const o = expectKind(
      await s.send(outbound(`http://127.0.0.1:${target.port}/`, { allowPlainHttp: false })),
      "refused",
    );
    assert.equal(o.reason, "plain_http_not_allowed");
    assert.equal(target.connections, 0);
  });
});

describe("createSender: zenmesh's own listeners", () => {
  test("refuses the system's own listeners whatever the allow-list says, and still delivers to other allow-listed ports", async () => {
    const api = await serve(answer(200));
    const mesh = await serve(answer(200), { host: "0.0.0.0" });
    const receiver = await serve(answer(200));
    const s = sender({
      lookup: fakeLookup({ "own.test": ["127.0.0.1"], localhost: ["::1", "127.0.0.1"] }),
      allowCidrs: cidrs("127.0.0.0/8,::1/128"),
      systemListeners: () => [
        { host: "127.0.0.1", port: api.port },
        { host: "0.0.0.0", port: mesh.port },
      ],
    });
    const urls = [
      `http://127.0.0.1:${api.port}/v1/projects`,
      `http://127.1:${api.port}/`,
      `http://[::ffff:127.0.0.1]:${api.port}/`,
      `http://own.test:${api.port}/`,
      `http://localhost:${api.port}/`,
      `https://127.0.0.1:${api.port}/`,
      // A listener on every address is reached on any loopback address.
      `http://127.0.0.1:${mesh.port}/`,
      `http://127.0.0.2:${mesh.port}/`,
    ];
    for (const url of urls) {
      const o = expectKind(await s.send(outbound(url)), "refused");
      assert.equal(o.reason, "system_listener", url);
      assert.match(o.detail, /zenmesh's own listener/, url);
    }
    assert.equal(api.connections, 0);
    assert.equal(mesh.connections, 0);
    const ok = expectKind(await s.send(outbound(`http://127.0.0.1:${receiver.port}/hook`)), "response");
    assert.equal(ok.status, 200);
    assert.equal(receiver.seen.length, 1);
  });
});

describe("createSender: delivering", () => {
  test("delivers to an allow-listed address: method, path, headers and body arrive; Host comes from the URL", async () => {
    const target = await serve(answer(201, "accepted"));
    const s = sender({ allowCidrs: LOOPBACK, lookup: fakeLookup({ "hooks.test": ["127.0.0.1"] }) });
    const req = outbound(`http://hooks.test:${target.port}/in/hook?x=1`, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        authorization: SECRET,
        host: "metadata.google.internal",
      },
    });
    const o = expectKind(await s.send(req), "response");
    assert.equal(o.status, 201);
    assert.equal(o.excerpt, "accepted");
    assert.equal(o.retryAfter, undefined);
    assert.ok(o.latencyMs > 0);
    const [seen] = target.seen;
    assert.ok(seen);
    assert.equal(seen.method, "PUT");
    assert.equal(seen.url, "/in/hook?x=1");
    assert.equal(seen.headers.host, `hooks.test:${target.port}`);
    assert.equal(seen.headers.authorization, SECRET);
    assert.equal(seen.body, '{"hello":"world"}');
  });

  test("a 503 is an answer, carrying its Retry-After", async () => {
    const target = await serve(answer(503, "busy", { "retry-after": "120" }));
    const o = expectKind(
      await sender({ allowCidrs: LOOPBACK }).send(outbound(`http://127.0.0.1:${target.port}/`)),
      "response",
    );
    assert.deepEqual([o.status, o.retryAfter, o.excerpt], [503, "120", "busy"]);
  });

  test("never follows a redirect: a 302 to a second server is the answer, and it sees no connection", async () => {
    const second = await serve(answer(200), { host: "127.0.0.2" });
    const first = await serve(answer(302, "moved", { location: `http://127.0.0.2:${second.port}/` }));
    const s = sender({ allowCidrs: LOOPBACK });
    const o = expectKind(await s.send(outbound(`http://127.0.0.1:${first.port}/`)), "response");
    assert.equal(o.status, 302);
    assert.equal(first.connections, 1);
    assert.equal(second.connections, 0);
  });

  test("connects to the address the guard checked, not to a later DNS answer", async () => {
    // Two servers on one port, one per loopback address; the name is unresolvable outside the fake lookup.
    let a: TestServer | undefined;
    let b: TestServer | undefined;
    for (let attempt = 0; attempt < 5 && b === undefined; attempt++) {
      a = await serve(answer(200, "a"));
      b = await serve(answer(200, "b"), { host: "127.0.0.2", port: a.port }).catch(() => undefined);
    }
    assert.ok(a && b, "could not bind 127.0.0.2 on the same port");
    let calls = 0;
    const lookup: Lookup = async () => [{ address: ++calls === 1 ? "127.0.0.1" : "127.0.0.2", family: 4 }];
    const s = sender({ lookup, allowCidrs: cidrs("127.0.0.0/30") });
    const url = `http://rebind.invalid:${a.port}/`;
    const first = expectKind(await s.send(outbound(url)), "response");
    assert.equal(first.excerpt, "a");
    assert.deepEqual([calls, a.connections, b.connections], [1, 1, 0]);
    // The next attempt is checked afresh and pinned to its own answer, on its own connection.
    const second = expectKind(await s.send(outbound(url)), "response");
    assert.equal(second.excerpt, "b");
    assert.deepEqual([calls, a.connections, b.connections], [2, 1, 1]);
  });

  test("reuses one keep-alive connection for two sends to the same receiver", async () => {
    const target = await serve(answer(200));
    const s = sender({ allowCidrs: LOOPBACK });
    for (let i = 0; i < 2; i++) {
      expectKind(await s.send(outbound(`http://127.0.0.1:${target.port}/`)), "response");
      // The HTTP client hands a socket back one event-loop turn after a response ends, so a
      // send in that same turn would open a second connection by design.
      await setImmediate();
    }
    assert.equal(target.seen.length, 2);
    assert.equal(target.connections, 1);
  });

  test("the excerpt is truncated and carries no escape sequence or control character", async () => {
    const hostile =
      "\u001b[31mred\u001b[0m \u001b]0;title\u0007 \u009b2J bell\u0007 nul\u0000 \u202eevil\r\nline2\ttab ";
    const target = await serve(answer(500, `${hostile}${"x".repeat(5000)}`));
    const s = sender({ allowCidrs: LOOPBACK, excerptChars: 60 });
    const o = expectKind(await s.send(outbound(`http://127.0.0.1:${target.port}/`)), "response");
    assert.equal(Array.from(o.excerpt).length, 60);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must be absent
    assert.doesNotMatch(o.excerpt, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    assert.match(o.excerpt, /^red {2}\uFFFD2J bell\uFFFD nul\uFFFD \uFFFDevil\uFFFD\nline2\ttab x+$/);
  });

  test("sanitizeExcerpt keeps whole characters and plain text", () => {
    assert.equal(sanitizeExcerpt(Buffer.from("héllo 🙂 wörld"), 7), "héllo 🙂");
    assert.equal(sanitizeExcerpt(Buffer.from([0xff, 0x41]), 10), "\uFFFDA");
  });
});

describe("createSender: bounded in time and size", () => {
  test("a body that trickles forever is cut at the deadline as a timeout", async () => {
    const target = await serve((_req, res) => {
      res.writeHead(200);
      res.write(".");
      const t = setInterval(() => res.write("."), 20);
      res.on("close", () => clearInterval(t));
    });
    const o = expectKind(
      await sender({ allowCidrs: LOOPBACK }).send(
        outbound(`http://127.0.0.1:${target.port}/`, { timeoutMs: 300 }),
      ),
      "error",
    );
    assert.equal(o.errorClass, "timeout");
    assert.ok(o.latencyMs >= 250 && o.latencyMs < 1500, String(o.latencyMs));
  });

  test("a receiver that never answers is a timeout at the deadline", async () => {
    const target = await serve(() => {});
    const o = expectKind(
      await sender({ allowCidrs: LOOPBACK }).send(
        outbound(`http://127.0.0.1:${target.port}/`, { timeoutMs: 200 }),
      ),
      "error",
    );
    assert.equal(o.errorClass, "timeout");
    assert.ok(o.latencyMs < 1500);
  });

  test("an endless fast body is cut at maxResponseBytes and answers promptly", async () => {
    const target = await serve((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      let sent = 0;
      const pump = (): void => {
        while (!res.destroyed && sent < 512 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
      };
      pump();
    });
    const s = sender({ allowCidrs: LOOPBACK, maxResponseBytes: 64 * 1024 });
    const o = expectKind(
      await s.send(outbound(`http://127.0.0.1:${target.port}/`, { timeoutMs: 10_000 })),
      "response",
    );
    assert.equal(o.status, 200);
    assert.equal(o.excerpt, "a".repeat(512));
    assert.ok(o.latencyMs < 2000, String(o.latencyMs));
  });

  test("a refused connection is a connect error, not an exception", async () => {
    const gone = await serve(answer(200));
    await cleanups.pop()?.();
    const o = expectKind(
      await sender({ allowCidrs: LOOPBACK }).send(outbound(`http://127.0.0.1:${gone.port}/`)),
      "error",
    );
    assert.equal(o.errorClass, "connect");
    assert.match(o.detail, /ECONNREFUSED/);
  });

  test("a connection reset mid-request is a network error", async () => {
    const target = await serve((req) => req.socket.destroy());
    const o = expectKind(
      await sender({ allowCidrs: LOOPBACK }).send(outbound(`http://127.0.0.1:${target.port}/`)),
      "error",
    );
    assert.equal(o.errorClass, "network");
    assert.ok(!o.detail.includes("s3cret"));
  });
});

describe("createSender: TLS", () => {
  let caPem = "";
  let server: { certPem: string; keyPem: string };
  let client: { certPem: string; keyPem: string };

  before(async () => {
    const caKeys = await generateP256();
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomBytes(16).toString("hex"),
      name: "CN=receiver test CA",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
      keys: caKeys,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      ],
    });
    caPem = ca.toString("pem");
    const leaf = async (cn: string, names: { type: "dns" | "ip"; value: string }[], eku: string) => {
      const keys = await generateP256();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: randomBytes(16).toString("hex"),
        subject: `CN=${cn}`,
        issuer: ca.subject,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3600_000),
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: ECDSA_SHA256,
        extensions: [
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([eku]),
          ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
        ],
      });
      return {
        certPem: cert.toString("pem"),
        keyPem: toPem("PRIVATE KEY", await exportPkcs8(keys.privateKey)),
      };
    };
    server = await leaf(
      "receiver.test",
      [
        { type: "dns", value: "receiver.test" },
        { type: "ip", value: "127.0.0.1" },
      ],
      x509.ExtendedKeyUsage.serverAuth,
    );
    client = await leaf("zenmesh egress", [], x509.ExtendedKeyUsage.clientAuth);
  });

  const names = () => fakeLookup({ "receiver.test": ["127.0.0.1"], "wrong.test": ["127.0.0.1"] });

  test("verifies the host name against the test CA and sends it as SNI; an IP literal gets no SNI", async () => {
    const target = await serve(answer(200, "secure"), { tls: { cert: server.certPem, key: server.keyPem } });
    const s = sender({ ca: caPem, allowCidrs: LOOPBACK, lookup: names() });
    const byName = expectKind(await s.send(outbound(`https://receiver.test:${target.port}/`)), "response");
    assert.equal(byName.excerpt, "secure");
    const byIp = expectKind(await s.send(outbound(`https://127.0.0.1:${target.port}/`)), "response");
    assert.equal(byIp.status, 200);
    assert.equal(target.seen[0]?.servername, "receiver.test");
    assert.ok(!target.seen[1]?.servername);
  });

  test("a certificate for another name, or from an unknown CA, is a tls error naming no header", async () => {
    const target = await serve(answer(200), { tls: { cert: server.certPem, key: server.keyPem } });
    const wrongHost = expectKind(
      await sender({ ca: caPem, allowCidrs: LOOPBACK, lookup: names() }).send(
        outbound(`https://wrong.test:${target.port}/`),
      ),
      "error",
    );
    assert.equal(wrongHost.errorClass, "tls");
    assert.match(wrongHost.detail, /ERR_TLS_CERT_ALTNAME_INVALID/);
    assert.ok(!wrongHost.detail.includes("s3cret"));
    const unknownCa = expectKind(
      await sender({ allowCidrs: LOOPBACK, lookup: names() }).send(
        outbound(`https://receiver.test:${target.port}/`),
      ),
      "error",
    );
    assert.equal(unknownCa.errorClass, "tls");
    assert.equal(target.seen.length, 0);
  });

  test("https to a plain http listener is a tls error", async () => {
    const target = await serve(answer(200));
    const o = expectKind(
      await sender({ allowCidrs: LOOPBACK }).send(outbound(`https://127.0.0.1:${target.port}/`)),
      "error",
    );
    assert.equal(o.errorClass, "tls");
  });

  test("presents the client certificate to a receiver that requires one", async () => {
    const target = await serve(answer(200, "hello client"), {
      tls: {
        cert: server.certPem,
        key: server.keyPem,
        ca: caPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
    });
    const s = sender({ ca: caPem, allowCidrs: LOOPBACK, lookup: names() });
    const url = `https://receiver.test:${target.port}/`;
    const o = expectKind(await s.send(outbound(url, { clientCert: client })), "response");
    assert.equal(o.excerpt, "hello client");
    assert.equal(target.seen[0]?.peerFingerprint, new X509Certificate(client.certPem).fingerprint256);
    // Without it, a separate connection is made (pools are per client certificate) and refused.
    const without = expectKind(await s.send(outbound(url)), "error");
    assert.ok(without.errorClass === "tls" || without.errorClass === "network", without.errorClass);
    assert.equal(target.seen.length, 1);
  });
});
