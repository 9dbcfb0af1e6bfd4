export { fingerprint, fingerprintInput } from "./fingerprint.ts";
export {
  DEFAULT_DEDUPE_WINDOW_SECONDS,
  INGESTER_ACTOR,
  type PersistDeps,
  type PersistOptions,
  persistBatch,
  type StoredEventFacts,
} from "./persist.ts";
export { replayKeys } from "./replay.ts";
export { MAX_BODY_BYTES, type ValidItem, validateItem } from "./validate.ts";
