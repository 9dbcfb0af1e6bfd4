/**
 * The ingest listener in a process of its own, for the memory test: started
 * with the limits in ZENMESH_TEST_LIMITS (JSON), one source, and a message
 * channel on which the test asks for `process.memoryUsage()`, after a full
 * GC when it says so. Run with --expose-gc.
 */
import { startTestIngest } from "./testing.ts";

const send = (msg: unknown) => process.send?.(msg);
const gc = (globalThis as { gc?: () => void }).gc;
if (!process.send || !gc) throw new Error("run with fork() and --expose-gc");

const ingest = await startTestIngest({ limits: JSON.parse(process.env.ZENMESH_TEST_LIMITS ?? "{}") });
const source = await ingest.source("memory", ["the only secret"]);
process.on("message", (msg: { memory?: { gc: boolean }; stop?: boolean }) => {
  if (msg.memory) {
    if (msg.memory.gc) {
      gc();
      gc();
    }
    send({ memory: process.memoryUsage() });
  }
  if (msg.stop) void ingest.close().then(() => process.exit(0));
});
send({ ready: { url: ingest.url, sourceId: source.id } });
