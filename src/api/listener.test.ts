/**
 * The control API's listener against slow and idle clients: a client that
 * dribbles its headers or its body is answered 408 and cut within the
 * configured timeouts, as on the ingest listener, instead of holding a socket
 * for as long as it keeps sending.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
/** Node checks the timeouts once a second; a little more for a loaded machine. */
const SLACK_MS = 3_000;
const GIVE_UP_MS = 10_000;

interface Cut {
  /** What the server wrote before closing. */
  answer: string;
  ms: number;
  closed: boolean;
}

/** Sends `head`, then `drip` every 200 ms until the server closes the socket (or GIVE_UP_MS pass). */
function dribble(url: string, head: string, drip: string): Promise<Cut> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(Number(port), hostname);
    let answer = "";
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ answer, ms: performance.now() - started, closed });
    };
    const giveUp = setTimeout(() => done(false), GIVE_UP_MS);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("error", () => {});
    socket.on("close", () => done(true));
    socket.on("connect", () => {
      socket.write(head);
      timer = setInterval(() => {
        if (socket.writable) socket.write(drip);
      }, 200);
    });
  });
}

const kind = DRIVERS[0]!;

/** Opens a connection and reports whether the server keeps it (true) or drops it at once (false). */
function kept(url: string, waitMs = 300): Promise<{ kept: boolean; close(): void }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.on("error", () => {});
    let closed = false;
    socket.on("close", () => {
      closed = true;
    });
    socket.on("connect", () => {
      // Half a request line: the server has nothing to answer yet, so only a refusal closes it.
      socket.write("GET /healthz HT");
      setTimeout(() => resolve({ kept: !closed, close: () => socket.destroy() }), waitMs);
    });
  });
}

describe(`control API connection limit on ${kind}`, { skip: skipReason(kind) }, () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(kind, { maxConnections: 3 });
  });
  after(async () => {
    await api?.close();
  });

  test("connections beyond the limit are dropped at once, and accepted again when others close", async () => {
    const held = [await kept(api.url), await kept(api.url), await kept(api.url)];
    try {
      assert.deepEqual(
        held.map((h) => h.kept),
        [true, true, true],
      );
      const extra = await kept(api.url);
      extra.close();
      assert.equal(extra.kept, false, "the fourth connection was kept");
    } finally {
      for (const h of held) h.close();
    }
    await new Promise((r) => setTimeout(r, 200));
    const ok = await fetch(`${api.url}/healthz`);
    assert.equal(ok.status, 200);
  });
});

describe(`control API listener against slow clients on ${kind}`, { skip: skipReason(kind) }, () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(kind, {
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
  });
  after(async () => {
    await api?.close();
  });

  test("a client sending its headers slowly is answered 408 and cut within the header timeout", async () => {
    const cut = await dribble(api.url, "GET /healthz HTTP/1.1\r\nhost: api\r\n", "x-slow: 1\r\n");
    assert.ok(cut.closed, `the socket was still open after ${GIVE_UP_MS} ms`);
    assert.match(cut.answer, /^HTTP\/1\.1 408 /);
    assert.ok(cut.ms < HEADERS_TIMEOUT_MS + SLACK_MS, `cut after ${Math.round(cut.ms)} ms`);
  });

  test("a client sending its body slowly is answered 408 and cut within the request timeout", async () => {
    const head =
      "POST /v1/auth/login HTTP/1.1\r\nhost: api\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{";
    const cut = await dribble(api.url, head, " ");
    assert.ok(cut.closed, `the socket was still open after ${GIVE_UP_MS} ms`);
    assert.match(cut.answer, /^HTTP\/1\.1 408 /);
    assert.ok(cut.ms < REQUEST_TIMEOUT_MS + SLACK_MS, `cut after ${Math.round(cut.ms)} ms`);
  });
});
