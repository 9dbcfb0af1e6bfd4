/**
 * The embedded server under `zenmesh up`, supervised like a role: one status
 * line when it runs (saying whether it listens on its socket or on loopback),
 * restarted with backoff (1 s doubling to 30 s) when it exits unasked, on the
 * same socket or port, so the URLs the backend and the migration step were
 * given stay valid. A restart goes through the same recovery as a first start
 * (stale pid file, leftover server processes).
 */
import { describeListen, type EmbeddedOptions, type RunningServer, startEmbeddedServer } from "./server.ts";

const MAX_BACKOFF_MS = 30_000;
const STABLE_AFTER_MS = 60_000;
export const STATUS_NAME = "database";

export interface SupervisedServer {
  /** The first start's server (its URLs hold across restarts). */
  first: RunningServer;
  pid(): number | undefined;
  restarts(): number;
  stop(): Promise<void>;
}

export async function superviseEmbeddedServer(
  opts: EmbeddedOptions,
  hooks: { out(line: string): void; onError(err: unknown): void },
): Promise<SupervisedServer> {
  const first = await startEmbeddedServer(opts);
  let current: RunningServer | undefined = first;
  let stopping = false;
  let restarts = 0;
  let backoff = 1000;
  let timer: NodeJS.Timeout | undefined;
  const line = (s: RunningServer) =>
    hooks.out(`  ${STATUS_NAME.padEnd(9)} running   pid ${s.pid}  ${describeListen(s.listen)}`);

  const watch = (s: RunningServer, startedAt: number) => {
    s.exited.then(({ code, signal }) => {
      if (stopping || current !== s) return;
      current = undefined;
      if (Date.now() - startedAt > STABLE_AFTER_MS) backoff = 1000;
      hooks.out(
        `  ${STATUS_NAME.padEnd(9)} exited    ${signal ?? `code ${code}`}; restarting in ${Math.round(backoff / 1000)} s`,
      );
      schedule();
    });
  };
  const schedule = () => {
    const wait = backoff;
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    timer = setTimeout(() => {
      if (stopping) return;
      restarts++;
      startEmbeddedServer({ ...opts, listen: first.listen }).then(
        (s) => {
          if (stopping) {
            s.stop().catch(hooks.onError);
            return;
          }
          current = s;
          line(s);
          watch(s, Date.now());
        },
        (err: unknown) => {
          // The killed server's processes may still hold its shared memory for a moment: try again.
          hooks.onError(err);
          if (!stopping) schedule();
        },
      );
    }, wait);
  };

  line(first);
  watch(first, Date.now());
  return {
    first,
    pid: () => current?.pid,
    restarts: () => restarts,
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await current?.stop();
    },
  };
}
