/**
 * The operator channel of a running embedded system: HTTP over a unix socket
 * inside the data dir (directory 0700, socket 0600), so only the account that
 * owns the data dir — and thereby the master key — can reach it. It lets the
 * CLI act while `zenmesh up` holds the embedded database open.
 */
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { join } from "node:path";
import type { OperatorRequest } from "../cli/operations.ts";
import { runOperation } from "../cli/operations.ts";
import { ERROR_CODES, type ErrorCode, isZenError, ZenError } from "../core/index.ts";
import type { Logger } from "../log/index.ts";
import type { Services } from "./services.ts";

const MAX_BODY = 64 * 1024;

export function operatorSocketPath(dataDir: string): string {
  return join(dataDir, "run", "operator.sock");
}

export async function startOperatorSocket(svc: Services, logger: Logger): Promise<Server> {
  const dir = join(svc.config.dataDir, "run");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = operatorSocketPath(svc.config.dataDir);
  if (existsSync(path)) rmSync(path);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on("end", async () => {
      let status = 200;
      let body: unknown;
      try {
        if (req.method !== "POST" || req.url !== "/operator") throw new ZenError("NOT_FOUND");
        body = await runOperation(svc, JSON.parse(Buffer.concat(chunks).toString("utf8")) as OperatorRequest);
      } catch (err) {
        const z = isZenError(err) ? err : new ZenError("INTERNAL", { cause: err });
        if (z.status >= 500) logger.error({ code: z.code, err }, "operator request failed");
        status = z.status;
        body = { error: { code: z.code, message: z.message } };
      }
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return server;
}

/** Sends one operation to a running system; undefined when nothing listens. */
export function callOperator(dataDir: string, op: OperatorRequest): Promise<unknown> {
  const socketPath = operatorSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: "/operator", method: "POST", headers: { "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch (err) {
            reject(
              new ZenError("UNAVAILABLE", {
                message: "the running system sent an unreadable answer",
                cause: err,
              }),
            );
            return;
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = (parsed as { error?: { code?: string; message?: string } }).error;
            const code: ErrorCode =
              e?.code !== undefined && e.code in ERROR_CODES ? (e.code as ErrorCode) : "INTERNAL";
            reject(new ZenError(code, e?.message === undefined ? {} : { message: e.message }));
            return;
          }
          resolve(parsed);
        });
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(op));
  });
}
