export {
  type BoxKeyPair,
  boxKeyPairFromPrivate,
  decodeBoxPublicKey,
  deriveBoxKeyPair,
  encodeBoxPublicKey,
  generateBoxKeyPair,
} from "./box.ts";
export { buildDispatch } from "./deliveries/dispatch.ts";
export { type ExpandDeps, expandDeliveries, type StoredEvent } from "./deliveries/expand.ts";
export { DESTINATION_DISABLED_TYPE } from "./deliveries/health.ts";
export { SYSTEM_SOURCE_ID } from "./deliveries/notify.ts";
export { type Claim, createTableQueue, type DeliveryQueue, type QueueEntry } from "./deliveries/queue.ts";
export {
  type AttemptView,
  type DeliveryView,
  getDelivery,
  listDeliveries,
  MAX_DELIVERIES_PAGE,
} from "./deliveries/read.ts";
export {
  createReplayJob,
  getReplayJob,
  type ReplayFilter,
  type ReplayJobView,
  replayDelivery,
  runReplayJobs,
} from "./deliveries/replay.ts";
export { type AppliedCounts, applyReports, type ResultsDeps } from "./deliveries/results.ts";
export { createScheduler, type EgressLink, type Scheduler } from "./deliveries/scheduler.ts";
export { type RunningEgress, startEgress } from "./egress/index.ts";
export { type Cidr, parseCidrList } from "./ssrf/ip.ts";
export * from "./types.ts";
