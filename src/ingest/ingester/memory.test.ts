/**
 * The reviewer's memory growth, scaled down: 40 unauthenticated clients each
 * uploading 12 MiB at once to a source with a 16 MiB limit. The ingester runs
 * in a child process; its resident memory is sampled during the burst and
 * its live memory (after a full GC) read before and after. With 32 MiB of
 * bytes in flight allowed in all, the peak stays near that, what the burst
 * allocated is freed, and a second burst, held to the same bound from the
 * same baseline, reuses what the first left resident instead of taking more.
 */
import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { rawRequest } from "../../../test/support/raw-http.ts";

const MiB = 1024 * 1024;
const LIMIT = 32 * MiB;

interface Memory {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  external: number;
}

/** Sends one request from `from` and resolves with the answer's status (0: closed without one). */
function upload(port: number, from: string, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let head = "";
    const s = connect({ port, host: "127.0.0.1", localAddress: from });
    const done = (status: number) => {
      s.destroy();
      resolve(status);
    };
    s.on("data", (d: Buffer) => {
      head += d.toString("latin1");
      if (head.includes("\r\n")) done(Number(head.slice(9, 12)));
    });
    s.on("error", () => done(head ? Number(head.slice(9, 12)) : 0));
    s.on("close", () => done(head ? Number(head.slice(9, 12)) : 0));
    s.write(bytes);
  });
}

describe("ingester memory under a burst of large unauthenticated uploads", () => {
  let child: ChildProcess;
  let ready: { url: string; sourceId: string };
  const replies: ((m: { memory: Memory }) => void)[] = [];

  const memory = (gc: boolean) =>
    new Promise<Memory>((resolve) => {
      replies.push((m) => resolve(m.memory));
      child.send({ memory: { gc } });
    });

  before(async () => {
    child = fork(new URL("./memory-child.ts", import.meta.url), {
      execArgv: ["--expose-gc"],
      env: {
        ...process.env,
        ZENMESH_TEST_LIMITS: JSON.stringify({
          maxInflightBytes: LIMIT,
          maxInflightBytesPerClient: 16 * MiB,
          maxConnections: 1000,
          maxConnectionsPerClient: 10,
        }),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    ready = await new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`the ingester exited (${code})`)));
      child.on("message", (m: { ready?: typeof ready; memory?: Memory }) => {
        if (m.ready) resolve(m.ready);
        if (m.memory) replies.shift()?.(m as { memory: Memory });
      });
    });
  });
  after(() => {
    child?.send({ stop: true });
  });

  test("the peak stays near the bytes-in-flight cap and the memory is returned", async (t) => {
    const body = Buffer.alloc(12 * MiB, 0x61);
    const bytes = rawRequest(
      "POST",
      `/e/${ready.sourceId}`,
      [
        ["host", "ingest.test"],
        ["content-type", "application/octet-stream"],
        // Well-formed, so it passes the header check; signed with no secret the source holds.
        ["x-signature", "ab".repeat(32)],
      ],
      body,
    );
    const port = Number(new URL(ready.url).port);
    // Warm up (the first request loads code and grows pools), then take the baseline.
    await upload(port, "127.0.0.2", bytes);
    await memory(true);
    await new Promise((r) => setTimeout(r, 1000));
    const base = await memory(true);

    const burst = async () => {
      let peak = 0;
      let peakBuffers = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const m = await memory(false);
          peak = Math.max(peak, m.rss);
          peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const statuses = await Promise.all(
        Array.from({ length: 40 }, (_, i) => upload(port, `127.0.0.${10 + i}`, bytes)),
      );
      sampling = false;
      await sampler;
      await new Promise((r) => setTimeout(r, 200));
      return { peak, peakBuffers, statuses, afterwards: await memory(true) };
    };
    const first = await burst();
    const second = await burst();

    const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
    for (const [name, b] of [
      ["first", first],
      ["second", second],
    ] as const) {
      t.diagnostic(
        `${name} burst: rss ${mib(base.rss)} → peak ${mib(b.peak)} → ${mib(b.afterwards.rss)}; buffers ${mib(base.arrayBuffers)} → peak ${mib(b.peakBuffers)}; live (heap + buffers) ${mib(base.heapUsed + base.arrayBuffers)} → ${mib(b.afterwards.heapUsed + b.afterwards.arrayBuffers)}; answers ${[...new Set(b.statuses)].join(",")}`,
      );
      // 40 × 12 MiB = 480 MiB offered; within the cap a body is held about twice over (its chunks,
      // then whole), and the sample also counts refused bodies' buffers the GC has not collected yet
      // (more of them in a second burst, on a busy machine): bounded by a few caps, far below 480 MiB.
      assert.ok(
        b.peakBuffers - base.arrayBuffers < 5 * LIMIT,
        `body buffers grew by ${mib(b.peakBuffers - base.arrayBuffers)} during the ${name} burst (cap ${mib(LIMIT)})`,
      );
      assert.ok(
        b.peak - base.rss < 3 * LIMIT + 128 * MiB,
        `resident memory grew by ${mib(b.peak - base.rss)} during the ${name} burst (cap ${mib(LIMIT)})`,
      );
      // Every upload was answered: refused for its signature (401) or for the cap (503), none left hanging.
      for (const s of b.statuses) assert.ok(s === 401 || s === 503 || s === 0, `status ${s}`);
      assert.ok(b.statuses.includes(503), `some uploads met the cap in the ${name} burst`);
      // What the burst allocated is freed…
      assert.ok(
        b.afterwards.heapUsed + b.afterwards.arrayBuffers < base.heapUsed + base.arrayBuffers + 16 * MiB,
        `live memory after the ${name} burst: ${mib(b.afterwards.heapUsed + b.afterwards.arrayBuffers)}, before ${mib(base.heapUsed + base.arrayBuffers)}`,
      );
    }
    // …and reused: the allocator may keep freed pages resident for the next burst (how much is
    // its choice, not ours), but both bursts' peaks are bounded from the same baseline, so what the
    // first kept would count against the second.
  });
});
