/**
 * The end-to-end receiver, in its own process: verifies EVERY delivery with
 * the `standardwebhooks` package and its destination's secret (an
 * implementation independent of zenmesh's), checks that the body is a
 * structured CloudEvent carrying the webhook-id, and records the first
 * arrival time (wall clock, ms) of each `<path> <webhook-id>`. A delivery
 * that fails verification is answered 400 and counted; it is not recorded.
 *
 * Run by the bench with fork(); controlled over IPC:
 *   add {path, secret}   a destination's path and secret
 *   stats                counts so far
 *   take                 the arrivals recorded since the last take (and forgets them)
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

const verifiers = new Map<string, Webhook>();
const seen = new Set<string>();
let keys: string[] = [];
let times: number[] = [];
let arrivals = 0;
let duplicates = 0;
let failures = 0;
const failureSamples: string[] = [];

function flat(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const at = performance.timeOrigin + performance.now();
    arrivals++;
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const body = Buffer.concat(chunks).toString("utf8");
    const headers = flat(req.headers);
    try {
      const verifier = verifiers.get(path);
      if (!verifier) throw new Error(`no destination at ${path}`);
      verifier.verify(body, headers);
      const ce = JSON.parse(body) as { id?: unknown; specversion?: unknown };
      if (ce.specversion !== "1.0" || ce.id !== headers["webhook-id"]) {
        throw new Error("not a structured CloudEvent carrying the webhook-id");
      }
    } catch (err) {
      failures++;
      if (failureSamples.length < 5) failureSamples.push(`${path}: ${(err as Error).message}`);
      res.writeHead(400, { "content-type": "text/plain" }).end("refused");
      return;
    }
    const key = `${path} ${headers["webhook-id"]}`;
    if (seen.has(key)) duplicates++;
    else {
      seen.add(key);
      keys.push(key);
      times.push(at);
    }
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
});
server.keepAliveTimeout = 30_000;

process.on("message", (m: { type: string; id: number; path?: string; secret?: string }) => {
  switch (m.type) {
    case "add":
      verifiers.set(m.path!, new Webhook(m.secret!));
      process.send?.({ type: "add", id: m.id });
      break;
    case "stats":
      process.send?.({
        type: "stats",
        id: m.id,
        arrivals,
        distinct: seen.size,
        duplicates,
        failures,
        failure_samples: failureSamples,
      });
      break;
    case "take":
      process.send?.({ type: "take", id: m.id, keys, times });
      keys = [];
      times = [];
      break;
    default:
      break;
  }
});

server.listen(0, "127.0.0.1", () => {
  process.send?.({ type: "ready", port: (server.address() as AddressInfo).port });
});
process.on("disconnect", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
