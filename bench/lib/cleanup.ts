/**
 * Everything the bench starts registers here: on the way out (normal end,
 * failure, SIGINT/SIGTERM) each cleanup runs once, newest first, and any
 * child process still alive is killed by its pid.
 */
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

type Cleanup = () => Promise<void> | void;

const cleanups: { name: string; fn: Cleanup }[] = [];
const pids = new Set<number>();
const dirs = new Set<string>();

/** A temp dir the bench made: removed at exit even when there is no time for anything else. */
export function trackDir(dir: string): void {
  dirs.add(dir);
}

export function untrackDir(dir: string): void {
  dirs.delete(dir);
}

export function onCleanup(name: string, fn: Cleanup): () => void {
  const entry = { name, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** A process the bench started (directly or as a child of one it started): killed by pid at exit. */
export function trackPid(pid: number | undefined): void {
  if (pid !== undefined) pids.add(pid);
}

export function untrackPid(pid: number | undefined): void {
  if (pid !== undefined) pids.delete(pid);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once("exit", () => r()));
}

let running: Promise<void> | undefined;

/** True once the bench is stopping (a signal or the end): load loops stop sending. */
export function stopping(): boolean {
  return running !== undefined;
}

export function runCleanups(): Promise<void> {
  running ??= (async () => {
    while (cleanups.length > 0) {
      const c = cleanups.pop()!;
      try {
        await c.fn();
      } catch (err) {
        console.error(`cleanup ${c.name} failed: ${(err as Error).message}`);
      }
    }
    killTracked();
  })();
  return running;
}

function killTracked(): void {
  for (const pid of pids) {
    if (alive(pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  pids.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

let installed = false;

/** SIGINT/SIGTERM: clean up, then exit 130; a second signal kills what is left at once. */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      // Processes and dirs now; what needs a connection (dropping a database) gets 5 s more.
      killTracked();
      const cap = setTimeout(() => process.exit(130), 5000);
      cap.unref();
      void (async () => {
        while (cleanups.length > 0) {
          await Promise.resolve(cleanups.pop()!.fn()).catch(() => {});
        }
      })().finally(() => process.exit(130));
      return;
    }
    signalled = true;
    console.error(`\n${signal}: stopping the bench and everything it started…`);
    runCleanups().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", killTracked);
}
