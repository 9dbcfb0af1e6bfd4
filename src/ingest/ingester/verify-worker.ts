/**
 * A verification thread: runs a scheme's `verify` for one request at a time,
 * off the listener's event loop, and hands the body back with the answer so
 * it is moved, never copied. Holds secrets only for the request in hand.
 */
import { parentPort } from "node:worker_threads";
import { getScheme } from "../schemes/index.ts";
import type { VerifyJob, VerifyReply } from "./verify-pool.ts";

const port = parentPort;
if (!port) throw new Error("verify-worker runs as a worker thread");

port.on("message", (job: VerifyJob) => {
  const body = Buffer.from(job.body);
  let reply: VerifyReply;
  try {
    const result = getScheme(job.scheme).verify({
      headers: job.headers,
      body,
      secrets: job.secrets,
      settings: job.settings,
      now: new Date(job.now),
      toleranceSeconds: job.toleranceSeconds,
      ...(job.url === undefined ? {} : { url: job.url }),
    });
    reply = { id: job.id, result, body: job.body };
  } catch (err) {
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err), body: job.body };
  }
  port.postMessage(reply, [job.body]);
});
