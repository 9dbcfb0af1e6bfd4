/**
 * `zenmesh up`: the embedded default. Starts every role this build has on
 * loopback against the data dir, prints each public listener's URL and
 * writes them to `<data-dir>/endpoints.json` for scripts and tests.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/index.ts";
import type { Logger } from "../log/index.ts";
import { startBackend } from "./backend.ts";
import { type DataDirLock, lockDataDir } from "./lock.ts";
import { VERSION } from "./version.ts";

export function endpointsPath(dataDir: string): string {
  return join(dataDir, "endpoints.json");
}

export interface RunningSystem {
  endpoints: Record<string, string>;
  stop(): Promise<void>;
}

export async function startUp(config: Config, logger: Logger): Promise<RunningSystem> {
  const lock: DataDirLock | undefined = config.database.url ? undefined : lockDataDir(config.dataDir);
  try {
    const backend = await startBackend(config, logger);
    const endpoints = { api: backend.apiUrl };
    writeFileSync(endpointsPath(config.dataDir), `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o644 });
    return {
      endpoints,
      async stop() {
        rmSync(endpointsPath(config.dataDir), { force: true });
        await backend.close();
        lock?.release();
      },
    };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** Runs until SIGINT/SIGTERM; a second signal exits at once. */
export async function runUp(config: Config, logger: Logger, out: (line: string) => void): Promise<void> {
  const started = Date.now();
  const system = await startUp(config, logger);
  out(
    `zenmesh ${VERSION} up on Node ${process.version} (profile ${config.profile}, data dir ${config.dataDir})`,
  );
  for (const [name, url] of Object.entries(system.endpoints)) out(`  ${name.padEnd(10)} ${url}`);
  out(`ready in ${Date.now() - started} ms; endpoints in ${endpointsPath(config.dataDir)}; Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      out(`${signal}: stopping`);
      system.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        resolve();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
