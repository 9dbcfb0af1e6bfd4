/**
 * The ceiling: a bare node:http server, in its own process, doing the least a
 * webhook receiver must: read the body (up to 1 MiB), check the GitHub-style
 * HMAC (`X-Hub-Signature-256: sha256=<hex>`) in constant time, answer 202
 * with a small JSON id. No storage, no TLS, no mesh: what this Node does on
 * this machine under the same generator, for zenmesh's figures to be read
 * against.
 *
 * Run by the bench with fork(): the secret comes in BENCH_SECRET, the port
 * goes back as an IPC message; it exits when the bench disconnects.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const secret = process.env.BENCH_SECRET ?? "";
const LIMIT = 1024 * 1024;
let n = 0;
const prefix = randomBytes(4).toString("hex");

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size > LIMIT) over = true;
    else chunks.push(c);
  });
  req.on("end", () => {
    if (over) {
      res.writeHead(413, { "content-type": "application/json" }).end('{"error":"too large"}');
      return;
    }
    const body = Buffer.concat(chunks);
    const given = String(req.headers["x-hub-signature-256"] ?? "");
    const want = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
    const got = Buffer.from(given);
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"error":"bad signature"}');
      return;
    }
    const id = `evt_${prefix}${(n++).toString(36).padStart(14, "0")}`;
    res.writeHead(202, { "content-type": "application/json" }).end(`{"id":"${id}"}`);
  });
});

server.keepAliveTimeout = 10_000;
server.listen(0, "127.0.0.1", () => {
  process.send?.({ type: "ready", port: (server.address() as AddressInfo).port });
});
process.on("disconnect", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
