export { type SerializedError, serializeError } from "./errors.ts";
export { isSensitiveKey, SENSITIVE_KEYS } from "./keys.ts";
export { type CreateLoggerOptions, createLogger, LEVELS, type Logger } from "./logger.ts";
export { CENSOR, REDACT_PATHS, scrubRecord, scrubValue } from "./redact.ts";
export { pathOnly, requestSerializers, type SerializedRequest, type SerializedResponse } from "./request.ts";
export { scrubString } from "./strings.ts";
