/**
 * Memory of a running role, read through the Node inspector protocol: a
 * forced full GC and `process.memoryUsage()` in the role's own process. The
 * system under test is started with `NODE_OPTIONS=--inspect=127.0.0.1:0`
 * (loopback, a free port per process); every process prints its inspector
 * URL, and the role behind a URL is found by asking it for its pid.
 *
 * Resident memory alone cannot tell a leak from a heap that grew and was
 * not handed back to the OS; the live heap after a full GC can.
 */

export const INSPECT_OPTIONS = "--inspect=127.0.0.1:0";

export interface LiveMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

interface CdpReply {
  id?: number;
  result?: { result?: { value?: unknown } };
  error?: { message: string };
}

/** Runs CDP methods in order on one inspector session; resolves with the last result's value. */
async function session(
  url: string,
  calls: { method: string; params?: Record<string, unknown> }[],
  timeoutMs = 20_000,
): Promise<unknown> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error(`cannot open the inspector at ${url}`)), {
        once: true,
      });
    });
    let last: unknown;
    for (const [i, call] of calls.entries()) {
      const id = i + 1;
      last = await new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${call.method} timed out at ${url}`)), timeoutMs);
        const onMessage = (ev: MessageEvent) => {
          const msg = JSON.parse(String(ev.data)) as CdpReply;
          if (msg.id !== id) return;
          clearTimeout(timer);
          ws.removeEventListener("message", onMessage);
          if (msg.error) reject(new Error(`${call.method}: ${msg.error.message}`));
          else resolve(msg.result?.result?.value);
        };
        ws.addEventListener("message", onMessage);
        ws.send(JSON.stringify({ id, method: call.method, params: call.params ?? {} }));
      });
    }
    return last;
  } finally {
    ws.close();
  }
}

const evaluate = (expression: string) => ({
  method: "Runtime.evaluate",
  params: { expression, returnByValue: true },
});

export class Inspectors {
  private readonly byPid = new Map<number, string>();
  private readonly output: () => string;

  constructor(output: () => string) {
    this.output = output;
  }

  private async urlOf(pid: number): Promise<string> {
    const known = this.byPid.get(pid);
    if (known) return known;
    const urls = [...this.output().matchAll(/Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/g)].map(
      (m) => m[1]!,
    );
    for (const url of urls) {
      if ([...this.byPid.values()].includes(url)) continue;
      try {
        const p = Number(await session(url, [evaluate("process.pid")], 5000));
        this.byPid.set(p, url);
      } catch {
        // A process that has exited since it printed its URL.
      }
    }
    const found = this.byPid.get(pid);
    if (!found) throw new Error(`no inspector answers for pid ${pid} (among ${urls.length} printed)`);
    return found;
  }

  /** Forces a full (compacting) GC in the process, then reads its memory, in bytes. */
  async liveMemory(pid: number): Promise<LiveMemory> {
    const url = await this.urlOf(pid);
    const json = await session(url, [
      { method: "HeapProfiler.enable" },
      { method: "HeapProfiler.collectGarbage" },
      { method: "HeapProfiler.collectGarbage" },
      evaluate("JSON.stringify(process.memoryUsage())"),
    ]);
    return JSON.parse(String(json)) as LiveMemory;
  }
}
