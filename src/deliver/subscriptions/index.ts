export type { SubscriptionDeps, SubscriptionView } from "./common.ts";
export { createSubscription } from "./create.ts";
export { deleteSubscription } from "./delete.ts";
export {
  type CreateSubscriptionInput,
  createSubscriptionInput,
  DEFAULT_SUBSCRIPTION_NAME,
  MAX_SOURCE_IDS,
  subscriptionFields,
  type UpdateSubscriptionInput,
  updateSubscriptionInput,
} from "./input.ts";
export {
  getSubscription,
  listSubscriptions,
  loadSubscriptionsForProjects,
  type SubscriptionRule,
} from "./read.ts";
export { updateSubscription } from "./update.ts";
