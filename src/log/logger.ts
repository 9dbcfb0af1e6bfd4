/**
 * The process logger: pino, JSON lines, metadata only. Every logged object
 * passes through the scrub walk (./redact.ts) and pino's redact paths; free
 * text passes through the credential masks. The instance can be handed to
 * Fastify 5 as `loggerInstance`: its req/res/err serializers take precedence
 * over Fastify's defaults.
 */
import {
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type Logger,
  type LoggerOptions,
  pino,
} from "pino";
import { ZenError } from "../core/index.ts";
import { serializeError } from "./errors.ts";
import { CENSOR, REDACT_PATHS, scrubRecord, scrubValue } from "./redact.ts";
import { requestSerializers } from "./request.ts";
import { scrubString } from "./strings.ts";

export type { Logger } from "pino";

export const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export interface CreateLoggerOptions {
  level: string;
  name?: string;
  /** Defaults to stdout. */
  destination?: NodeJS.WritableStream | { write(s: string): void };
}

function isLevel(level: string): level is (typeof LEVELS)[number] {
  return (LEVELS as readonly string[]).includes(level);
}

const SERIALIZED_BY_KEY: ReadonlySet<string> = new Set(Object.keys(requestSerializers));

function scrubObject(obj: Record<string, unknown>): Record<string, unknown> {
  return scrubRecord(obj, SERIALIZED_BY_KEY);
}

/** Not exported from the folder: without createLogger's child override, child bindings go unscrubbed. */
export function loggerOptions(level: string, name?: string): LoggerOptions {
  if (!isLevel(level)) {
    throw new ZenError("CONFIG_INVALID", {
      message: `Invalid configuration: log level must be one of ${LEVELS.join(", ")}`,
    });
  }
  return {
    level,
    ...(name === undefined ? {} : { name }),
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: CENSOR },
    serializers: { ...requestSerializers, err: serializeError, error: serializeError },
    formatters: { log: scrubObject, bindings: scrubObject },
    hooks: {
      // The merging object (first argument) is scrubbed by formatters.log once pino
      // has wrapped a bare Error as { err }; here: the message and interpolation values.
      logMethod(args, method) {
        const safe = args.map((a, i) =>
          typeof a === "string" ? scrubString(a) : i === 0 ? a : scrubValue(a),
        ) as Parameters<typeof method>;
        method.apply(this, safe);
      },
    },
  };
}

/**
 * pino applies `formatters.bindings` to the root logger only, so child
 * bindings are scrubbed here. Children inherit `child` from their parent's
 * prototype chain, so one override covers every generation, Fastify's
 * per-request loggers included.
 */
function scrubChildBindings(logger: Logger): Logger {
  const original = logger.child;
  // defineProperty because pino's generic `child` signature cannot be restated with a `this` parameter.
  Object.defineProperty(logger, "child", {
    configurable: true,
    writable: true,
    value(this: Logger, bindings: Bindings, options?: ChildLoggerOptions) {
      const child: Logger = Reflect.apply(original, this, [scrubObject(bindings), options]);
      return child;
    },
  });
  return logger;
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  const options = loggerOptions(opts.level, opts.name);
  const logger =
    opts.destination === undefined ? pino(options) : pino(options, opts.destination as DestinationStream);
  return scrubChildBindings(logger);
}
