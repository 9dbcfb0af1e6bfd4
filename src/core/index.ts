export { type Clock, fixedClock, systemClock } from "./clock.ts";
export { type ActionContext, type Actor, actorId } from "./context.ts";
export { correlationIdFrom } from "./correlation.ts";
export {
  assertNever,
  ERROR_CODES,
  type ErrorCode,
  isZenError,
  type Result,
  type Unreachable,
  ZenError,
  type ZenErrorOptions,
} from "./errors.ts";
export { ID_PREFIXES, ID_RANDOM_LENGTH, type IdKind, isId, newId, randomBase62 } from "./ids.ts";
export {
  hasInvisibleOrControl,
  type Issue,
  issuesOf,
  parseInput,
  SHOWN_TEXT_MESSAGE,
  shownName,
  shownText,
  validationFailed,
} from "./validation.ts";
