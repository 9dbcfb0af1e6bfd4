/** Test helper: a trace-level logger that writes to memory, to assert what never reaches a log line. */
import { createLogger, type Logger } from "./logger.ts";

export interface CapturedLogs {
  logger: Logger;
  /** Every line written so far, without the trailing newline. */
  lines(): string[];
  /** Everything written so far, as written. */
  text(): string;
}

export function captureLogs(opts: { level?: string; name?: string } = {}): CapturedLogs {
  const chunks: string[] = [];
  const logger = createLogger({
    level: opts.level ?? "trace",
    ...(opts.name === undefined ? {} : { name: opts.name }),
    destination: { write: (s: string) => void chunks.push(s) },
  });
  const text = () => chunks.join("");
  return {
    logger,
    text,
    lines: () =>
      text()
        .split("\n")
        .filter((l) => l !== ""),
  };
}
