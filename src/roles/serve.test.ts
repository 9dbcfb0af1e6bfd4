/**
 * The production wiring of `zenmesh serve <role>`, in-process: a backend
 * with the built-in CA (internal API + join endpoint over a real database),
 * then one role per identity source — a join token (egress), a SPIFFE
 * Workload API server on a unix socket (ingester), certificate files (bff).
 * Each fetches its own hop key over mTLS and heartbeats signed; identities
 * rotate underneath without a failed heartbeat. Finally the roles' own
 * internal route admits the backend only by its certificate.
 */
import assert from "node:assert/strict";
import { createHmac, X509Certificate } from "node:crypto";
import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { PGLITE_TEMPLATE } from "../../test/support/env.ts";
import { errorCode, eventually, id, rawRequest, TD, testCa } from "../../test/support/mesh.ts";
import { type Config, loadConfig } from "../config/index.ts";
import { isZenError, systemClock } from "../core/index.ts";
import { createEgressKeyFile } from "../deliver/egress/key-file.ts";
import {
  createJoinToken,
  createRenewingIdentity,
  type RenewingIdentity,
  type Svid,
  startWorkloadApiServer,
  svidToMessage,
  type WorkloadApiServer,
} from "../identity/index.ts";
import { createSource } from "../ingest/sources/index.ts";
import { captureLogs } from "../log/testing.ts";
import { createInternalClient } from "../mesh/index.ts";
import { createTenant, PROJECT_PERMISSIONS } from "../tenancy/index.ts";
import { generateMasterKey } from "../zenlock/index.ts";
import { type RunningBackend, startBackend } from "./backend.ts";
import type { Heartbeat } from "./backend-mesh.ts";
import { defaultIngestUrl, type RunningRole, serveProduction, withoutOwnerConnection } from "./serve.ts";

/** The backend issues the joined role short SVIDs, so its renewal over mTLS runs within the test. */
const JOINED_SVID_TTL_SECONDS = 6;

function serialOf(svid: Svid): string {
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(svid.certChainPem)?.[0];
  assert.ok(leaf);
  return new X509Certificate(leaf).serialNumber;
}

describe("zenmesh serve <role> in production", () => {
  const logs = captureLogs({ level: "info" });
  const dirs: string[] = [];
  const running: RunningRole[] = [];
  let pki: Awaited<ReturnType<typeof testCa>>;
  let backendIdentity: RenewingIdentity;
  let backend: RunningBackend;
  let spire: WorkloadApiServer | undefined;

  const tempDir = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  /** A role's config as its operator would give it: production profile, no data-store credentials. */
  const roleConfig = (env: Record<string, string>): Config =>
    loadConfig({
      env: {
        ZENMESH_PROFILE: "production",
        ZENMESH_DATA_DIR: tempDir("zm-role-"),
        ZENMESH_TRUST_DOMAIN: TD,
        ZENMESH_BACKEND_URL: backend.internalUrl,
        ZENMESH_EGRESS_INTERNAL_PORT: "0",
        ZENMESH_INGESTER_INTERNAL_PORT: "0",
        ZENMESH_BFF_INTERNAL_PORT: "0",
        ZENMESH_HEARTBEAT_SECONDS: "1",
        ZENMESH_LOG_LEVEL: "warn",
        ZENMESH_EGRESS_KEY_FILE: egressKeyFile,
        ...env,
      },
      argv: [],
    });
  const serve = async (...args: Parameters<typeof serveProduction>) => {
    const r = await serveProduction(...args);
    running.push(r);
    return r;
  };
  /** The next heartbeat of `role` received after `since` (ms). */
  const heartbeatAfter = (role: string, since: number): Promise<Heartbeat> =>
    eventually(`a heartbeat from ${role}`, () => {
      const hb = backend.mesh.heartbeats.get(role);
      return hb && Date.parse(hb.receivedAt) > since ? hb : undefined;
    });
  /** The serial of the certificate a role's internal server presents now. */
  const presentedSerial = async (url: string) =>
    (
      await rawRequest(url, {
        path: "/internal/health",
        svid: backendIdentity.current(),
        ca: pki.ca.bundlePem(),
      })
    ).serverSerial;
  const writeSvidFiles = (svid: Svid, keyMode: number) => {
    const d = tempDir("zm-files-");
    const files = {
      cert: join(d, "svid.pem"),
      key: join(d, "svid.key"),
      bundle: join(d, "bundle.pem"),
    };
    writeFileSync(files.cert, svid.certChainPem);
    writeFileSync(files.key, svid.keyPem, { mode: 0o600 });
    chmodSync(files.key, keyMode);
    writeFileSync(files.bundle, svid.bundlePem);
    return files;
  };

  let egressKeyFile: string;

  before(async () => {
    pki = await testCa();
    egressKeyFile = join(tempDir("zm-egress-key-"), "egress-box.key");
    createEgressKeyFile(egressKeyFile);
    const dataDir = tempDir("zm-serve-");
    if (PGLITE_TEMPLATE) cpSync(PGLITE_TEMPLATE, join(dataDir, "pgdata"), { recursive: true });
    const config = loadConfig({
      env: {
        ZENMESH_PROFILE: "dev",
        ZENMESH_DATA_DIR: dataDir,
        ZENMESH_MASTER_KEY: generateMasterKey(),
        ZENMESH_TRUST_DOMAIN: TD,
        ZENMESH_JOIN_PORT: "0",
        ZENMESH_METRICS_PORT: "0",
        ZENMESH_SVID_TTL_SECONDS: String(JOINED_SVID_TTL_SECONDS),
      },
      argv: [],
    });
    backendIdentity = await createRenewingIdentity({ issue: () => pki.ca.issueSvid({ path: "backend" }) });
    backend = await startBackend(config, logs.logger, {
      identity: backendIdentity,
      apiPort: 0,
      internalPort: 0,
      ca: pki.ca,
      ingestBaseUrl: () => "https://127.0.0.1:7701",
    });
  });

  after(async () => {
    for (const r of running.reverse()) await r.close().catch(() => {});
    await backend?.close();
    await backendIdentity?.close();
    await spire?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("the backend with the built-in CA serves its join endpoint on the port the OS gave it", () => {
    const joinUrl = backend.publicUrls.join;
    assert.ok(joinUrl, `publicUrls: ${JSON.stringify(backend.publicUrls)}`);
    const u = new URL(joinUrl);
    assert.equal(u.protocol, "https:");
    assert.notEqual(Number(u.port), 0);
    assert.match(backend.internalUrl, /^https:\/\/127\.0\.0\.1:[1-9]\d*$/);
  });

  test("the backend serves /metrics on its own loopback listener, and the public API answers 404 for it", async () => {
    const metricsUrl = backend.publicUrls.metrics;
    assert.ok(metricsUrl, `publicUrls: ${JSON.stringify(backend.publicUrls)}`);
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const scraped = await fetch(`${metricsUrl}/metrics`);
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /zenmesh_auth_failures_total/);
    const api = backend.publicUrls.api;
    assert.ok(api);
    assert.notEqual(new URL(api).port, new URL(metricsUrl).port);
    const onApi = await fetch(`${api}/metrics`);
    assert.equal(onApi.status, 404);
    assert.doesNotMatch(await onApi.text(), /zenmesh_/);
  });

  test("egress joins with a one-time token, heartbeats signed and renews its SVID over mTLS", async () => {
    const { token } = await createJoinToken(backend.services.db, {
      workload: "egress",
      createdBy: "test",
      correlationId: "corr-serve-egress",
      clock: systemClock,
    });
    const bundleFile = join(tempDir("zm-bundle-"), "bundle.pem");
    writeFileSync(bundleFile, pki.ca.bundlePem());
    const joinUrl = backend.publicUrls.join;
    assert.ok(joinUrl);
    const config = roleConfig({
      ZENMESH_JOIN_URL: joinUrl,
      ZENMESH_JOIN_TOKEN: token,
      ZENMESH_TRUST_BUNDLE_FILE: bundleFile,
    });
    const started = Date.now();
    const egress = await serve("egress", config, logs.logger);
    assert.deepEqual(egress.publicUrls, {});

    // Its internal server presents the SVID it was issued: the backend reaches it as egress.
    const client = createInternalClient({
      identity: backendIdentity,
      trustDomain: TD,
      baseUrl: egress.internalUrl,
      expectServer: id("egress"),
    });
    try {
      const r = await client.request("GET", "/internal/health");
      assert.equal(r.status, 200);
      assert.equal(r.peer.spiffeId, id("egress"));
      assert.equal(r.json<{ role: string }>().role, "egress");
    } finally {
      await client.close();
    }
    const hb = await heartbeatAfter("egress", started - 1);
    assert.equal(hb.role, "egress");
    assert.equal(hb.pid, process.pid);
    assert.equal(hb.failures, 0);

    // The token is spent: a second process presenting it gets no identity.
    await assert.rejects(serveProduction("egress", config, logs.logger), (err: unknown) => {
      assert.ok(isZenError(err), String(err));
      assert.equal(err.code, "UNAUTHENTICATED");
      assert.match(err.message, /refused the join \(401\)/);
      return true;
    });

    // At half-life it renews with a fresh key by CSR over mTLS, and keeps heartbeating.
    const first = await presentedSerial(egress.internalUrl);
    await eventually(
      "the egress SVID to renew",
      async () => ((await presentedSerial(egress.internalUrl)) !== first ? true : undefined),
      JOINED_SVID_TTL_SECONDS * 1000 + 2000,
      200,
    );
    const renewedAt = Date.now();
    const later = await heartbeatAfter("egress", renewedAt);
    assert.equal(later.failures, 0, "no heartbeat failed across the renewal");
  });

  test("ingester takes its SVID from the Workload API, fetches its hop key and survives a rotation", async () => {
    const socketPath = join(tempDir("zm-spire-"), "agent.sock");
    const firstSvid = await pki.issue("ingester");
    spire = await startWorkloadApiServer({
      socketPath,
      initial: { svids: [svidToMessage(firstSvid)], crl: [], federatedBundles: new Map() },
    });
    // The public ingest listener serves HTTPS in production; any certificate serves the test.
    const tlsDir = tempDir("zm-ingest-tls-");
    const tls = await pki.issue("ingest-listener");
    writeFileSync(join(tlsDir, "cert.pem"), tls.certChainPem);
    writeFileSync(join(tlsDir, "key.pem"), tls.keyPem, { mode: 0o600 });
    const config = roleConfig({
      ZENMESH_SPIRE_SOCKET: socketPath,
      ZENMESH_INGEST_PORT: "0",
      ZENMESH_INGEST_TLS_CERT_FILE: join(tlsDir, "cert.pem"),
      ZENMESH_INGEST_TLS_KEY_FILE: join(tlsDir, "key.pem"),
    });
    const started = Date.now();
    const ingester = await serve("ingester", config, logs.logger);
    assert.ok(spire.accepted >= 1);
    assert.equal(await presentedSerial(ingester.internalUrl), serialOf(firstSvid));
    const hb = await heartbeatAfter("ingester", started - 1);
    assert.equal(hb.failures, 0);

    const rotated = await pki.issue("ingester");
    spire.push({ svids: [svidToMessage(rotated)], crl: [], federatedBundles: new Map() });
    await eventually("the ingester to present the rotated SVID", async () =>
      (await presentedSerial(ingester.internalUrl)) === serialOf(rotated) ? true : undefined,
    );
    const rotatedAt = Date.now();
    const after1 = await heartbeatAfter("ingester", rotatedAt);
    const after2 = await heartbeatAfter("ingester", Date.parse(after1.receivedAt));
    assert.equal(after1.failures, 0);
    assert.equal(after2.failures, 0, "heartbeats keep arriving after the rotation");

    // Its public listener serves HTTPS, and a source pinned to a client certificate admits only that one.
    const tenancy = { ...backend.services.tenancy, ingestBaseUrl: () => ingester.publicUrls.ingest ?? "" };
    const { tenantId, projectId } = await createTenant(tenancy, {
      name: "pinned",
      correlationId: "corr-pin-test",
      actor: { type: "operator", id: "test" },
    });
    const sender = await pki.issue("sender");
    const stranger = await pki.issue("stranger");
    const pin = (svid: Svid) =>
      new X509Certificate(svid.certChainPem).fingerprint256.replaceAll(":", "").toLowerCase();
    const { source, secret } = await createSource(
      tenancy,
      {
        tenantId,
        projectId,
        actor: { type: "operator", id: "test" },
        permissions: new Set(PROJECT_PERMISSIONS),
        correlationId: "corr-pin-test",
      },
      { name: "pinned", scheme: "github", client_cert_pins: [pin(sender)] },
    );
    const post = (client: Svid | undefined) => {
      const body = JSON.stringify({ ref: "refs/heads/pinned", n: Math.random() });
      const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
      return new Promise<{ status: number; code?: string }>((resolve, reject) => {
        const req = httpsRequest(
          source.ingest_url,
          {
            method: "POST",
            ca: pki.ca.bundlePem(),
            // The listener's certificate names a SPIFFE ID, not a host name.
            checkServerIdentity: () => undefined,
            ...(client ? { cert: client.certChainPem, key: client.keyPem } : {}),
            agent: false,
            headers: {
              "content-type": "application/json",
              "x-github-event": "push",
              "x-github-delivery": `d-${Math.random()}`,
              "x-hub-signature-256": signature,
            },
          },
          (res) => {
            let text = "";
            res.on("data", (d: Buffer) => {
              text += d.toString();
            });
            res.on("end", () =>
              resolve({
                status: res.statusCode ?? 0,
                code: (JSON.parse(text) as { error?: { code: string } }).error?.code,
              }),
            );
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    };
    await eventually("the pinned source to reach the ingester", async () =>
      (await post(sender)).status === 202 ? true : undefined,
    );
    assert.deepEqual(await post(undefined), { status: 403, code: "CLIENT_CERT_REJECTED" });
    assert.deepEqual(await post(stranger), { status: 403, code: "CLIENT_CERT_REJECTED" });

    // Closing the role closes the identity source it opened: the Workload API stream ends.
    assert.equal(spire.openStreams(), 1);
    running.splice(running.indexOf(ingester), 1);
    await ingester.close();
    const server = spire;
    await eventually("the Workload API stream to close", () =>
      server.openStreams() === 0 ? true : undefined,
    );
  });

  test("bff reads its SVID from certificate files, and refuses a key file others can read", async () => {
    const svid = await pki.issue("bff");
    const ok = writeSvidFiles(svid, 0o600);
    const started = Date.now();
    const bff = await serve(
      "bff",
      roleConfig({
        ZENMESH_MESH_CERT_FILE: ok.cert,
        ZENMESH_MESH_KEY_FILE: ok.key,
        ZENMESH_TRUST_BUNDLE_FILE: ok.bundle,
      }),
      logs.logger,
    );
    assert.equal(await presentedSerial(bff.internalUrl), serialOf(svid));
    const hb = await heartbeatAfter("bff", started - 1);
    assert.equal(hb.failures, 0);

    const loose = writeSvidFiles(await pki.issue("bff"), 0o644);
    const config = roleConfig({
      ZENMESH_MESH_CERT_FILE: loose.cert,
      ZENMESH_MESH_KEY_FILE: loose.key,
      ZENMESH_TRUST_BUNDLE_FILE: loose.bundle,
    });
    await assert.rejects(serveProduction("bff", config, logs.logger), (err: unknown) => {
      assert.ok(isZenError(err), String(err));
      assert.equal(err.code, "CONFIG_INSECURE");
      assert.match(err.message, /ZENMESH_MESH_KEY_FILE/);
      assert.match(err.message, /mode 644/);
      return true;
    });
  });

  test("a role's own internal route admits the backend by certificate, and nothing else", async () => {
    const svid = await pki.issue("bff");
    const files = writeSvidFiles(svid, 0o400);
    const bff = await serve(
      "bff",
      roleConfig({
        ZENMESH_MESH_CERT_FILE: files.cert,
        ZENMESH_MESH_KEY_FILE: files.key,
        ZENMESH_TRUST_BUNDLE_FILE: files.bundle,
      }),
      logs.logger,
    );
    const call = (who: Svid | undefined, ca = pki.ca.bundlePem()) =>
      rawRequest(bff.internalUrl, { path: "/internal/health", svid: who, ca });

    const asBackend = await call(await pki.issue("backend"));
    assert.equal(asBackend.status, 200, asBackend.body);
    assert.deepEqual(JSON.parse(asBackend.body).role, "bff");

    const asOperator = await call(await pki.issue("operator"));
    assert.equal(asOperator.status, 200, asOperator.body);

    const asIngester = await call(await pki.issue("ingester"));
    assert.equal(asIngester.status, 403);
    assert.equal(errorCode(asIngester.body), "PEER_NOT_ALLOWED");

    await assert.rejects(call(undefined), "no client certificate: the handshake is refused");

    const other = await testCa();
    await assert.rejects(
      call(await other.issue("backend"), pki.ca.bundlePem()),
      "a backend SVID from another CA is refused",
    );
    // The refused clients left the role serving.
    assert.equal((await call(await pki.issue("backend"))).status, 200);
  });

  test("a role refuses to start with data-store credentials or without the backend's URL", async () => {
    const svid = await pki.issue("egress");
    const files = writeSvidFiles(svid, 0o600);
    const material = {
      ZENMESH_MESH_CERT_FILE: files.cert,
      ZENMESH_MESH_KEY_FILE: files.key,
      ZENMESH_TRUST_BUNDLE_FILE: files.bundle,
    };
    await assert.rejects(
      serveProduction(
        "egress",
        roleConfig({ ...material, ZENMESH_MASTER_KEY: generateMasterKey() }),
        logs.logger,
      ),
      (err: unknown) =>
        isZenError(err) && err.code === "CONFIG_INSECURE" && /ZENMESH_MASTER_KEY/.test(err.message),
    );
    const noBackend = loadConfig({
      env: {
        ZENMESH_PROFILE: "production",
        ZENMESH_DATA_DIR: tempDir("zm-role-"),
        ZENMESH_TRUST_DOMAIN: TD,
        ...material,
      },
      argv: [],
    });
    await assert.rejects(
      serveProduction("egress", noBackend, logs.logger),
      (err: unknown) =>
        isZenError(err) && err.code === "CONFIG_INSECURE" && /ZENMESH_BACKEND_URL/.test(err.message),
    );
  });
});

describe("a backend the supervisor migrated for", () => {
  test("keeps no owner connection in its configuration, whatever the configuration said", () => {
    const config = loadConfig({
      env: {
        ZENMESH_DATA_DIR: "/tmp/zm-owner",
        ZENMESH_DATABASE_URL: "postgres://app@127.0.0.1:5432/zen",
        ZENMESH_DATABASE_OWNER_URL: "postgres://owner:secret@127.0.0.1:5432/zen",
      },
      argv: [],
    });
    assert.equal(config.database.ownerUrl, "postgres://owner:secret@127.0.0.1:5432/zen");
    const served = withoutOwnerConnection(config);
    assert.equal(served.database.ownerUrl, undefined);
    assert.ok(!JSON.stringify(served).includes("owner:secret"));
    assert.equal(served.database.url, config.database.url);
    assert.deepEqual({ ...served, database: undefined }, { ...config, database: undefined });
  });
});

describe("the ingest URL sources show", () => {
  const base = (env: Record<string, string>) =>
    defaultIngestUrl(loadConfig({ env: { ZENMESH_INGEST_PORT: "7801", ...env }, argv: [] }));

  test("is https in production, where every ingester serves HTTPS, though the backend holds no ingest certificate", () => {
    assert.equal(base({ ZENMESH_PROFILE: "production" }), "https://127.0.0.1:7801");
  });

  test("follows the listener's own certificate in dev, and the operator's public URL wherever it is set", () => {
    assert.equal(base({}), "http://127.0.0.1:7801");
    assert.equal(
      base({ ZENMESH_INGEST_TLS_CERT_FILE: "/etc/c.pem", ZENMESH_INGEST_TLS_KEY_FILE: "/etc/k.pem" }),
      "https://127.0.0.1:7801",
    );
    assert.equal(
      base({ ZENMESH_PROFILE: "production", ZENMESH_INGEST_PUBLIC_URL: "https://hooks.example.com" }),
      "https://hooks.example.com",
    );
  });
});
