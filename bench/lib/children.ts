/** Starting the bench's own helper processes (the ceiling, the receiver) with fork and IPC. */
import { type ChildProcess, fork } from "node:child_process";
import { exited, onCleanup, trackPid, untrackPid } from "./cleanup.ts";

export interface Helper {
  proc: ChildProcess;
  port: number;
  /** Sends a request and waits for the answer of the same `type`. */
  ask<T>(msg: { type: string } & Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export async function startHelper(
  file: string,
  env: Record<string, string>,
  opts: { nodeOptions?: string } = {},
): Promise<Helper> {
  const proc = fork(file, [], {
    env: { ...process.env, ...env, NODE_OPTIONS: opts.nodeOptions ?? "" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    serialization: "advanced",
  });
  trackPid(proc.pid);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start in 20 s`)), 20_000);
    proc.once("exit", (code) => reject(new Error(`${file} exited during start (code ${code})`)));
    proc.on("message", (m: { type?: string; port?: number }) => {
      if (m?.type === "ready" && typeof m.port === "number") {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
  });
  let seq = 0;
  const stop = async () => {
    if (proc.connected) proc.disconnect();
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited(proc);
    clearTimeout(timer);
    untrackPid(proc.pid);
    forget();
  };
  const forget = onCleanup(file, stop);
  return {
    proc,
    port,
    stop,
    ask<T>(msg: { type: string } & Record<string, unknown>, timeoutMs = 30_000) {
      const id = ++seq;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          proc.off("message", on);
          reject(new Error(`${file}: no answer to ${msg.type} in ${timeoutMs} ms`));
        }, timeoutMs);
        const on = (m: { type?: string; id?: number }) => {
          if (m?.type === msg.type && m.id === id) {
            clearTimeout(timer);
            proc.off("message", on);
            resolve(m as T);
          }
        };
        proc.on("message", on);
        proc.send({ ...msg, id });
      });
    },
  };
}
