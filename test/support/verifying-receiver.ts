/**
 * A webhook target on loopback that verifies every delivery with the
 * `standardwebhooks` package (independently of zenmesh's own signing code)
 * and counts verified deliveries by `webhook-id`, so a suite can prove
 * at-least-once delivery and count duplicates.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface VerifyingReceiver {
  /** Base URL; destinations point at `${url}${path}`. */
  url: string;
  /** Registers the destination signing secret deliveries to `path` must verify with. */
  expect(path: string, secret: string): void;
  /** Verified deliveries per webhook-id, per path. */
  counts(path: string): Map<string, number>;
  /** Deliveries that failed verification (answered 400). */
  failures: number;
  /** Every delivery that reached the server, verified or not. */
  received: number;
  close(): Promise<void>;
}

function flat(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

export async function startVerifyingReceiver(): Promise<VerifyingReceiver> {
  const verifiers = new Map<string, Webhook>();
  const seen = new Map<string, Map<string, number>>();
  const r: VerifyingReceiver = {
    url: "",
    expect(path, secret) {
      verifiers.set(path, new Webhook(secret));
      seen.set(path, new Map());
    },
    counts: (path) => seen.get(path) ?? new Map(),
    failures: 0,
    received: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      r.received++;
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const headers = flat(req.headers);
      const body = Buffer.concat(chunks).toString("utf8");
      let id: string;
      try {
        const verifier = verifiers.get(path);
        if (!verifier) throw new Error(`no destination at ${path}`);
        verifier.verify(body, headers);
        const event = JSON.parse(body) as { id?: unknown; specversion?: unknown };
        if (event.specversion !== "1.0" || event.id !== headers["webhook-id"]) {
          throw new Error("not a structured CloudEvent carrying the webhook-id");
        }
        id = headers["webhook-id"]!;
      } catch {
        r.failures++;
        res.writeHead(400, { "content-type": "text/plain" }).end("refused");
        return;
      }
      const m = seen.get(path)!;
      m.set(id, (m.get(id) ?? 0) + 1);
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", () => res()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return r;
}
