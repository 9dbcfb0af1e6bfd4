/**
 * Signature verification off the event loop. A forged request costs one
 * HMAC over its body per live secret version (at most the cap,
 * `ingest.maxSecretVersions`); for a large body that is tens of
 * milliseconds of CPU, and done on the listener's event loop it would hold
 * up every other tenant's webhook meanwhile. Bodies from `OFFLOAD_BYTES` up
 * are verified on worker threads instead; the body's memory is moved there
 * and back (transferred, not copied). Smaller bodies, the common case and
 * the hot path, are verified inline: a thread hop would cost more than
 * their HMACs.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { getScheme } from "../schemes/index.ts";
import type { SchemeName, VerifyInput, VerifyResult } from "../types.ts";

/** Bodies this large or larger are verified on a worker thread. */
export const OFFLOAD_BYTES = 64 * 1024;

export interface VerifyJob {
  id: number;
  scheme: SchemeName;
  headers: Record<string, string | undefined>;
  body: ArrayBuffer;
  secrets: string[];
  settings: Record<string, unknown>;
  now: number;
  toleranceSeconds: number;
  url?: string;
}

export type VerifyReply =
  | { id: number; result: VerifyResult; body: ArrayBuffer }
  | { id: number; error: string; body: ArrayBuffer };

export interface VerifyPool {
  /** Verifies as `getScheme(scheme).verify` would; the body comes back (possibly as a new Buffer). */
  verify(scheme: SchemeName, input: VerifyInput): Promise<{ result: VerifyResult; body: Buffer }>;
  close(): Promise<void>;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve(r: { result: VerifyResult; body: Buffer }): void; reject(e: Error): void }>;
}

export function createVerifyPool(opts: { threads?: number } = {}): VerifyPool {
  const size = opts.threads ?? Math.max(1, Math.min(4, availableParallelism() - 1));
  const slots: (Slot | undefined)[] = new Array(size).fill(undefined);
  let nextId = 1;
  let closed = false;

  const spawn = (index: number): Slot => {
    const worker = new Worker(new URL("./verify-worker.ts", import.meta.url));
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    const failAll = (err: Error) => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      if (slots[index] === slot) slots[index] = undefined;
    };
    worker.on("message", (reply: VerifyReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if ("error" in reply) p.reject(new Error(`signature verification failed: ${reply.error}`));
      else p.resolve({ result: reply.result, body: Buffer.from(reply.body) });
    });
    worker.on("error", failAll);
    worker.on("exit", (code) => failAll(new Error(`the verification thread exited (${code})`)));
    slots[index] = slot;
    return slot;
  };

  const pick = (): Slot => {
    let best: Slot | undefined;
    for (let i = 0; i < size; i++) {
      const s = slots[i] ?? spawn(i);
      if (best === undefined || s.pending.size < best.pending.size) best = s;
    }
    return best!;
  };

  // Started with the listener: a thread's start (loading the schemes) must not fall on a request.
  for (let i = 0; i < size; i++) spawn(i);

  return {
    async verify(scheme, input) {
      if (closed || input.body.byteLength < OFFLOAD_BYTES) {
        return { result: getScheme(scheme).verify(input), body: input.body };
      }
      const b = input.body;
      // Moved when the Buffer owns its whole memory (a body read into one allocation); copied otherwise.
      const owned =
        b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
      const body = owned ? (b.buffer as ArrayBuffer) : new Uint8Array(b).buffer;
      const id = nextId++;
      const slot = pick();
      const job: VerifyJob = {
        id,
        scheme,
        headers: { ...input.headers },
        body,
        secrets: [...input.secrets],
        settings: { ...input.settings },
        now: input.now.getTime(),
        toleranceSeconds: input.toleranceSeconds,
        ...(input.url === undefined ? {} : { url: input.url }),
      };
      return new Promise((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.postMessage(job, [body]);
      });
    },
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => s?.worker.terminate()));
    },
  };
}
