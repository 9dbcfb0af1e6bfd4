/** Reading an ingest request: headers into one map, the body raw with a hard cap. */
import type { IncomingMessage } from "node:http";
import { ZenError } from "../../core/index.ts";
import type { Reservation } from "./limits.ts";

/** Lower-case names; a repeated header's values joined with ", " (as HTTP allows for list headers). */
export function headerMap(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values !== undefined) out[name] = values.join(", ");
  }
  return out;
}

/** The media type without parameters, lower-case; undefined when absent or repeated. */
export function mediaType(req: IncomingMessage): string | undefined {
  const values = req.headersDistinct["content-type"];
  if (values === undefined || values.length !== 1) return undefined;
  const type = values[0]!.split(";")[0]!.trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : undefined;
}

/**
 * Reads the body up to `limit` bytes. Over the limit (by Content-Length or
 * while streaming) it stops reading and throws PAYLOAD_TOO_LARGE; a client
 * that stalls past the server's request timeout is cut off by the server.
 * The bytes are held in `reservation` as they arrive, chunk by chunk, whatever
 * length is declared: a client that declares a large body and sends nothing
 * holds no share of the caps (only a connection, until the request timeout);
 * a cap passed stops the reading with the reservation's error.
 */
export function readBody(req: IncomingMessage, limit: number, reservation: Reservation): Promise<Buffer> {
  const header = req.headers["content-length"];
  const declared = header === undefined ? undefined : Number(header);
  if (declared !== undefined && declared > limit) {
    return Promise.reject(new ZenError("PAYLOAD_TOO_LARGE"));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      req.off("data", onData);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish(new ZenError("PAYLOAD_TOO_LARGE"));
        return;
      }
      const refused = reservation.grow(chunk.length);
      if (refused) {
        req.pause();
        finish(refused);
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => finish());
    req.once("error", (err) => finish(new ZenError("MALFORMED_REQUEST", { cause: err })));
    req.once("aborted", () =>
      finish(new ZenError("MALFORMED_REQUEST", { message: "The client went away." })),
    );
  });
}
