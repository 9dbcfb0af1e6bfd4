/**
 * The mesh as `zenmesh up` runs it: four role processes, every internal hop
 * mutually authenticated, SVIDs renewed every few seconds, signed heartbeats
 * checked against Redis for replays, crashed roles restarted.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { REDIS_URL } from "../support/env.ts";
import { ANY_PORTS } from "../support/ports.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "zenmesh.js");
const MASTER_KEY = randomBytes(32).toString("base64");

interface Heartbeat {
  role: string;
  pid: number;
  receivedAt: string;
  failures: number;
}

function cli(dir: string, args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, "--data-dir", dir], {
    encoding: "utf8",
    env: { ...process.env, ZENMESH_LOG_LEVEL: "warn", ZENMESH_MASTER_KEY: MASTER_KEY },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function status(dir: string): Heartbeat[] {
  const r = cli(dir, ["status"]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { roles: Heartbeat[] }).roles;
}

/** Sends a plain HTTP request to a port and returns whatever comes back before the socket closes. */
function plainProbe(port: number): Promise<string> {
  return new Promise((res) => {
    const chunks: Buffer[] = [];
    const s = connect(port, "127.0.0.1", () => s.write("GET /internal/health HTTP/1.1\r\nHost: x\r\n\r\n"));
    s.on("data", (d: Buffer) => chunks.push(d));
    s.setTimeout(3000, () => s.destroy());
    s.on("close", () => res(Buffer.concat(chunks).toString("latin1")));
    s.on("error", () => {});
  });
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("the mesh under zenmesh up", () => {
  let dir: string;
  let child: ChildProcess;
  let stdout = "";
  let mesh: { trustDomain: string; internal: Record<string, string> };
  let api: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zm-mesh-"));
    child = spawn(process.execPath, [BIN, "up", "--data-dir", dir], {
      env: {
        ...process.env,
        ZENMESH_LOG_LEVEL: "warn",
        ZENMESH_MASTER_KEY: MASTER_KEY,
        ZENMESH_REDIS_URL: REDIS_URL,
        ...ANY_PORTS,
        ZENMESH_SVID_TTL_SECONDS: "4",
        ZENMESH_HEARTBEAT_SECONDS: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    await until("ready", () => (/ready in \d+ ms/.test(stdout) ? true : undefined), 60_000);
    mesh = JSON.parse(readFileSync(join(dir, "run", "mesh.json"), "utf8"));
    api = (JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as { api: string }).api;
  });

  after(async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("starts backend, ingester, egress and bff as separate processes on https internal URLs", () => {
    assert.deepEqual(Object.keys(mesh.internal).sort(), ["backend", "bff", "egress", "ingester"]);
    for (const url of Object.values(mesh.internal)) assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const pids = [...stdout.matchAll(/^\s+(?:backend|ingester|egress|bff)\s+running\s+pid (\d+)/gm)].map(
      (m) => m[1],
    );
    assert.equal(new Set(pids).size, 4, stdout);
  });

  test("serves no plaintext HTTP on any internal port", async () => {
    for (const [role, url] of Object.entries(mesh.internal)) {
      const answer = await plainProbe(Number(new URL(url).port));
      assert.ok(
        !/HTTP\/1\.[01] \d{3}/.test(answer),
        `${role} answered plaintext: ${JSON.stringify(answer.slice(0, 80))}`,
      );
    }
  });

  test("gives the other roles no database, Redis or master-key credentials", async () => {
    // The backend lists itself first; the three others appear once each has reported.
    const roles = await until("three heartbeats", () => {
      const s = status(dir).filter((r) => r.role !== "backend");
      return s.length === 3 ? s : undefined;
    });
    for (const r of roles) {
      const environ = readFileSync(`/proc/${r.pid}/environ`, "latin1");
      for (const name of ["ZENMESH_DATABASE_URL", "ZENMESH_REDIS_URL", "ZENMESH_MASTER_KEY"]) {
        assert.ok(!environ.includes(`${name}=`), `${r.role} holds ${name}`);
      }
      assert.ok(!environ.includes(MASTER_KEY), `${r.role} holds the master key`);
    }
  });

  test("keeps internal requests flowing across several SVID renewals with zero failures", async () => {
    const seen = new Map<string, Set<string>>();
    const end = Date.now() + 10_000;
    let calls = 0;
    while (Date.now() < end) {
      const roles = status(dir);
      calls++;
      for (const r of roles) {
        if (!seen.has(r.role)) seen.set(r.role, new Set());
        seen.get(r.role)?.add(r.receivedAt);
      }
    }
    assert.ok(calls >= 5, `only ${calls} operator calls`);
    // 1 s heartbeats over 10 s with 4 s SVIDs (renewed every ~2 s): every role kept getting through.
    for (const role of ["ingester", "egress", "bff"]) {
      assert.ok((seen.get(role)?.size ?? 0) >= 5, `${role}: ${seen.get(role)?.size ?? 0} heartbeats`);
    }
    for (const r of status(dir)) assert.equal(r.failures, 0, `${r.role} failed ${r.failures} heartbeats`);
  });

  test("restarts a killed role, which rejoins the mesh with a new process", async () => {
    const before = status(dir).find((r) => r.role === "egress");
    assert.ok(before);
    process.kill(before.pid, "SIGKILL");
    const after = await until("egress back", () => {
      const e = status(dir).find((r) => r.role === "egress" && r.pid !== before.pid);
      return e && Date.now() - Date.parse(e.receivedAt) < 3000 ? e : undefined;
    });
    assert.notEqual(after.pid, before.pid);
    assert.match(stdout, /egress\s+exited\s+SIGKILL; restarting/);
  });

  test("restarts a killed backend on the same addresses, and the API and operator work again", async () => {
    const pid = Number(/backend\s+running\s+pid (\d+)/.exec(stdout)?.[1]);
    process.kill(pid, "SIGKILL");
    await until("backend restarted", () => (/backend\s+exited\s+SIGKILL/.test(stdout) ? true : undefined));
    const r = await until(
      "tenant create after restart",
      () => {
        const c = cli(dir, ["tenant", "create", "--name", "after-restart", "--json"]);
        return c.code === 0 ? c : undefined;
      },
      60_000,
    );
    const key = (JSON.parse(r.stdout) as { api_key: string }).api_key;
    const me = await fetch(`${api}/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(me.status, 200);
    assert.deepEqual(
      (JSON.parse(readFileSync(join(dir, "run", "mesh.json"), "utf8")) as typeof mesh).internal,
      mesh.internal,
    );
  });
});
