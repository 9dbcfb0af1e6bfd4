/**
 * The metrics listener over TLS: with a certificate it serves HTTPS only (a
 * plain-HTTP request gets no metrics), and with a client CA it refuses, at
 * the handshake, a scraper that presents no certificate or one the CA did
 * not issue.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { after, before, describe, test } from "node:test";
import { selfSignedServer } from "../../test/support/delivery.ts";
import { ECDSA_SHA256, exportPkcs8, generateP256, toPem, x509 } from "../identity/x509.ts";
import { createLogger } from "../log/index.ts";
import { createApiMetrics, type MetricsServer, startMetricsServer } from "./metrics.ts";

async function selfSignedClient(cn: string): Promise<{ cert: string; key: string }> {
  const keys = await generateP256();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString("hex"),
    name: `CN=${cn}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.2"])],
  });
  return { cert: cert.toString("pem"), key: toPem("PRIVATE KEY", await exportPkcs8(keys.privateKey)) };
}

function get(
  url: string,
  tls: { ca?: string; cert?: string; key?: string } = {},
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const send = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = send(url, { ...tls, timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

describe("the metrics listener over TLS", () => {
  let server: { cert: string; key: string };
  let scraper: { cert: string; key: string };
  let stranger: { cert: string; key: string };
  let plainTls: MetricsServer;
  let mutual: MetricsServer;
  const logger = createLogger({ level: "silent" });

  before(async () => {
    server = await selfSignedServer();
    scraper = await selfSignedClient("prometheus");
    stranger = await selfSignedClient("prometheus");
    const metrics = createApiMetrics({ defaultMetrics: false });
    metrics.authFailures.inc({ reason: "unknown" });
    plainTls = await startMetricsServer({
      registry: metrics.registry,
      host: "127.0.0.1",
      port: 0,
      logger,
      tls: { cert: server.cert, key: server.key },
    });
    mutual = await startMetricsServer({
      registry: metrics.registry,
      host: "127.0.0.1",
      port: 0,
      logger,
      tls: { cert: server.cert, key: server.key, clientCa: scraper.cert },
    });
  });
  after(async () => {
    await plainTls?.close();
    await mutual?.close();
  });

  test("serves HTTPS with the configured certificate, and nothing over plain HTTP", async () => {
    assert.match(plainTls.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await get(`${plainTls.url}/metrics`, { ca: server.cert });
    assert.ok("status" in r, JSON.stringify(r));
    assert.equal(r.status, 200);
    assert.match(r.body, /zenmesh_auth_failures_total\{reason="unknown"\} 1/);
    const plain = await get(`${plainTls.url.replace("https:", "http:")}/metrics`);
    assert.ok(!("status" in plain) || !plain.body.includes("zenmesh_"), "metrics served over plain HTTP");
  });

  test("with a client CA, only a scraper with a certificate it issued gets metrics", async () => {
    const ok = await get(`${mutual.url}/metrics`, { ca: server.cert, ...scraper });
    assert.ok("status" in ok, JSON.stringify(ok));
    assert.equal(ok.status, 200);
    assert.match(ok.body, /zenmesh_auth_failures_total/);
    for (const [label, creds] of [
      ["no certificate", {}],
      ["a certificate another CA issued", stranger],
    ] as const) {
      const r = await get(`${mutual.url}/metrics`, { ca: server.cert, ...creds });
      assert.ok(!("status" in r) || r.status !== 200, `${label}: ${JSON.stringify(r)}`);
      if ("status" in r) assert.ok(!r.body.includes("zenmesh_"), label);
    }
  });
});
