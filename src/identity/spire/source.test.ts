import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { connect, createServer } from "node:tls";
import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type StatusObject,
  status,
} from "@grpc/grpc-js";
import { isZenError, ZenError } from "../../core/index.ts";
import type { IdentitySource, Svid } from "../types.ts";
import { fetchX509SvidMethod, workloadApiTarget } from "./service.ts";
import { createSpireIdentitySource, type SpireIdentitySourceOptions } from "./source.ts";
import { issue, response, tempSocketDir, testCa } from "./test-fixtures.ts";
import { startWorkloadApiServer, type WorkloadApiServer } from "./workload-api-server.ts";

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function agent(
  initial?: Parameters<WorkloadApiServer["push"]>[0],
): Promise<WorkloadApiServer & { socketPath: string }> {
  const { socketPath, cleanup } = tempSocketDir();
  const server = await startWorkloadApiServer(
    initial === undefined ? { socketPath } : { socketPath, initial },
  );
  cleanups.push(cleanup, () => server.close());
  return Object.assign(server, { socketPath });
}

async function source(opts: SpireIdentitySourceOptions): Promise<IdentitySource> {
  const s = await createSpireIdentitySource({
    timeoutMs: 5000,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...opts,
  });
  cleanups.push(() => s.close());
  return s;
}

function nextUpdate(src: IdentitySource): Promise<Svid> {
  return new Promise((resolve) => {
    const off = src.onUpdate((svid) => {
      off();
      resolve(svid);
    });
  });
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function rawCall(address: string, metadata: Metadata): Promise<StatusObject> {
  const client = new Client(address, credentials.createInsecure());
  const m = fetchX509SvidMethod;
  const call = client.makeServerStreamRequest(
    m.path,
    m.requestSerialize,
    m.responseDeserialize,
    {},
    metadata,
  );
  return new Promise((resolve) => {
    call.on("data", () => {});
    call.on("error", () => {});
    call.on("status", (s: StatusObject) => {
      client.close();
      resolve(s);
    });
  });
}

describe("SPIRE Workload API identity source", () => {
  it("the test agent rejects calls without the workload.spiffe.io header with INVALID_ARGUMENT", async () => {
    const { message } = await issue(await testCa(), "backend");
    const server = await agent(response(message));
    const missing = await rawCall(server.address, new Metadata());
    assert.equal(missing.code, status.INVALID_ARGUMENT);
    const wrong = new Metadata();
    wrong.set("workload.spiffe.io", "yes");
    assert.equal((await rawCall(server.address, wrong)).code, status.INVALID_ARGUMENT);
    assert.equal(server.rejected, 2);
    assert.equal(server.accepted, 0);
  });

  it("resolves with the first SVID and keeps the stream open", async () => {
    const { svid, message } = await issue(await testCa(), "backend");
    const server = await agent(response(message));
    const src = await source({ socketPath: server.socketPath, trustDomain: "zenmesh.test" });
    assert.equal(src.current().spiffeId, svid.spiffeId);
    assert.equal(src.current().certChainPem, svid.certChainPem);
    assert.equal(src.current().bundlePem, svid.bundlePem);
    assert.equal(server.openStreams(), 1);
  });

  it("accepts the endpoint as a unix:// URI", async () => {
    const { message } = await issue(await testCa(), "backend");
    const server = await agent(response(message));
    const src = await source({ socketPath: server.address });
    assert.equal(src.current().spiffeId, "spiffe://zenmesh.test/backend");
  });

  it("rotates to a pushed SVID and notifies listeners, but not for an unchanged snapshot", async () => {
    const ca = await testCa();
    const first = await issue(ca, "backend");
    const server = await agent(response(first.message));
    const src = await source({ socketPath: server.socketPath });
    let calls = 0;
    const off = src.onUpdate(() => calls++);

    server.push(response(first.message));
    const rotated = await issue(ca, "backend");
    const update = nextUpdate(src);
    server.push(response(rotated.message));
    const got = await update;
    assert.equal(got.certChainPem, rotated.svid.certChainPem);
    assert.equal(src.current().certChainPem, rotated.svid.certChainPem);
    assert.notEqual(src.current().certChainPem, first.svid.certChainPem);
    assert.equal(calls, 1);

    off();
    const third = await issue(ca, "backend");
    const update2 = nextUpdate(src);
    server.push(response(third.message));
    await update2;
    assert.equal(calls, 1);
  });

  it("selects the SVID named by spiffeId when the response carries two", async () => {
    const ca = await testCa();
    const backend = await issue(ca, "backend");
    const ingester = await issue(ca, "ingester");
    const server = await agent(response(backend.message, ingester.message));
    const chosen = await source({ socketPath: server.socketPath, spiffeId: ingester.svid.spiffeId });
    assert.equal(chosen.current().spiffeId, "spiffe://zenmesh.test/ingester");
    assert.equal(chosen.current().certChainPem, ingester.svid.certChainPem);
    const first = await source({ socketPath: server.socketPath });
    assert.equal(first.current().spiffeId, "spiffe://zenmesh.test/backend");
  });

  it("waits past a response without the wanted SVID, reporting it, until one arrives", async () => {
    const ca = await testCa();
    const backend = await issue(ca, "backend");
    const egress = await issue(ca, "egress");
    const server = await agent(response(backend.message));
    const errors: Error[] = [];
    const pending = source({
      socketPath: server.socketPath,
      spiffeId: egress.svid.spiffeId,
      onError: (e) => errors.push(e),
    });
    await eventually(() => errors.length > 0, "an unusable-response report");
    assert.ok(isZenError(errors[0]) && errors[0].details?.reason === "no_matching_svid");
    server.push(response(backend.message, egress.message));
    assert.equal((await pending).current().spiffeId, egress.svid.spiffeId);
  });

  it("reconnects after the server ends the stream, with an error or normally", async () => {
    const ca = await testCa();
    const first = await issue(ca, "backend");
    const server = await agent(response(first.message));
    const errors: Error[] = [];
    const src = await source({ socketPath: server.socketPath, onError: (e) => errors.push(e) });

    server.endStreams(status.UNAVAILABLE, "agent restarting");
    await server.waitForCalls(2);
    assert.equal(src.current().certChainPem, first.svid.certChainPem);
    assert.ok(errors.some((e) => /UNAVAILABLE \(agent restarting\)/.test(e.message)));

    server.endStreams();
    await server.waitForCalls(3);
    const rotated = await issue(ca, "backend");
    const update = nextUpdate(src);
    server.push(response(rotated.message));
    assert.equal((await update).certChainPem, rotated.svid.certChainPem);
  });

  it("keeps serving its SVID while the agent is gone and picks up a restarted agent", async () => {
    const ca = await testCa();
    const first = await issue(ca, "backend");
    const { socketPath, cleanup } = tempSocketDir();
    cleanups.push(cleanup);
    const old = await startWorkloadApiServer({ socketPath, initial: response(first.message) });
    const errors: Error[] = [];
    const src = await source({ socketPath, onError: (e) => errors.push(e) });
    await old.close();
    await eventually(() => errors.length >= 2, "failed reconnect attempts");
    assert.equal(src.current().certChainPem, first.svid.certChainPem);

    const rotated = await issue(ca, "backend");
    const update = nextUpdate(src);
    const restarted = await startWorkloadApiServer({ socketPath, initial: response(rotated.message) });
    cleanups.push(() => restarted.close());
    assert.equal((await update).certChainPem, rotated.svid.certChainPem);
  });

  it("fails with UNAVAILABLE when the server never answers", async () => {
    const server = await agent();
    const started = Date.now();
    await assert.rejects(
      createSpireIdentitySource({ socketPath: server.socketPath, timeoutMs: 300 }),
      (err: unknown) => err instanceof ZenError && err.code === "UNAVAILABLE" && err.retryable,
    );
    assert.ok(Date.now() - started >= 290);
    assert.equal(server.accepted, 1);
    await eventually(() => server.openStreams() === 0, "the abandoned stream to close");
  });

  it("fails with UNAVAILABLE when nothing listens on the socket", async () => {
    const { socketPath, cleanup } = tempSocketDir();
    cleanups.push(cleanup);
    await assert.rejects(
      createSpireIdentitySource({ socketPath, timeoutMs: 300, reconnect: { initialDelayMs: 20 } }),
      (err: unknown) =>
        err instanceof ZenError && err.code === "UNAVAILABLE" && err.cause instanceof ZenError,
    );
  });

  it("fails at once when the server refuses the call as INVALID_ARGUMENT", async () => {
    const { socketPath, cleanup } = tempSocketDir();
    cleanups.push(cleanup);
    const server = new Server();
    server.addService(
      { FetchX509SVID: fetchX509SvidMethod },
      {
        FetchX509SVID: (call: { emit: (e: string, v: unknown) => void }) =>
          call.emit("error", { code: status.INVALID_ARGUMENT, details: "no" }),
      },
    );
    await new Promise<void>((res, rej) =>
      server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (e) =>
        e ? rej(e) : res(),
      ),
    );
    cleanups.push(() => server.forceShutdown());
    const started = Date.now();
    await assert.rejects(
      createSpireIdentitySource({ socketPath, timeoutMs: 5000 }),
      (err: unknown) => err instanceof ZenError && /INVALID_ARGUMENT/.test(err.message),
    );
    assert.ok(Date.now() - started < 2000);
  });

  it("close() cancels the stream and stops reconnecting", async () => {
    const { message } = await issue(await testCa(), "backend");
    const server = await agent(response(message));
    const src = await createSpireIdentitySource({
      socketPath: server.socketPath,
      reconnect: { initialDelayMs: 10 },
    });
    assert.equal(server.openStreams(), 1);
    await src.close();
    await eventually(() => server.openStreams() === 0, "the stream to be cancelled");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.accepted, 1);
    await src.close();
  });

  it("refuses bad configuration with CONFIG_INVALID", async () => {
    const bad: SpireIdentitySourceOptions[] = [
      { socketPath: "relative/agent.sock" },
      { socketPath: "tcp://127.0.0.1:8081" },
      { socketPath: "unix://host/agent.sock" },
      { socketPath: "unix:///tmp/agent.sock?x=1" },
      { socketPath: "/tmp/agent.sock", spiffeId: "spiffe://zenmesh.test/../x" },
      { socketPath: "/tmp/agent.sock", trustDomain: "Zenmesh.test" },
      { socketPath: "/tmp/agent.sock", spiffeId: "spiffe://a.test/x", trustDomain: "b.test" },
      { socketPath: "/tmp/agent.sock", timeoutMs: 0 },
    ];
    for (const opts of bad) {
      await assert.rejects(
        createSpireIdentitySource(opts),
        (err: unknown) => isZenError(err) && err.code === "CONFIG_INVALID",
      );
    }
    assert.equal(workloadApiTarget("unix:///run/spire/agent.sock"), "unix:///run/spire/agent.sock");
    assert.equal(workloadApiTarget("/run/spire/agent.sock"), "unix:///run/spire/agent.sock");
  });

  it("completes a real mTLS handshake with the SVID from the Workload API as client certificate", async () => {
    const ca = await testCa();
    const client = await issue(ca, "ingester");
    const serverSvid = await ca.issueSvid({ path: "backend" });
    const agentServer = await agent(response(client.message));
    const src = await source({ socketPath: agentServer.socketPath, spiffeId: client.svid.spiffeId });
    const svid = src.current();

    const tlsServer = createServer({
      cert: serverSvid.certChainPem,
      key: serverSvid.keyPem,
      ca: svid.bundlePem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
    });
    const peer = new Promise<string | undefined>((resolve) => {
      tlsServer.on("secureConnection", (socket) => {
        resolve(socket.getPeerX509Certificate()?.subjectAltName);
        socket.end();
      });
    });
    await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => tlsServer.close(r)));
    const { port } = tlsServer.address() as AddressInfo;

    const serverId = await new Promise<string | undefined>((resolve, reject) => {
      const socket = connect({
        host: "127.0.0.1",
        port,
        cert: svid.certChainPem,
        key: svid.keyPem,
        ca: svid.bundlePem,
        // The peer is identified by its SPIFFE ID (checked below), not a DNS name.
        checkServerIdentity: () => undefined,
      });
      socket.on("secureConnect", () => {
        resolve(socket.authorized ? socket.getPeerX509Certificate()?.subjectAltName : undefined);
        socket.end();
      });
      socket.on("error", reject);
    });
    assert.equal(serverId, "URI:spiffe://zenmesh.test/backend");
    assert.equal(await peer, "URI:spiffe://zenmesh.test/ingester");
  });
});
