/**
 * The shapes a subscription is created and changed with, shared by the
 * actions and the HTTP routes. Type patterns and payload conditions are
 * validated (and normalised) by the filter module, which also evaluates them,
 * so nothing can be stored that matching would read differently. Issues name
 * paths, never the caller's values.
 */
import { z } from "zod";
import { shownName } from "../../core/index.ts";
import { type Condition, validateConditions, validateTypePatterns } from "../filter.ts";

export const MAX_SOURCE_IDS = 100;
export const DEFAULT_SUBSCRIPTION_NAME = "subscription";

const ID = (prefix: string) => new RegExp(`^${prefix}_[0-9A-Za-z]{22}$`);

// "conditions[2].value: …" → path ["conditions", "2", "value"] and the message after the colon.
const REASON = /^(types|conditions)(?:\[(\d+)\])?(?:\.([a-z]+))?: (.*)$/s;

function addReason(ctx: z.RefinementCtx, reason: string): void {
  const m = REASON.exec(reason);
  const path = m ? [m[2], m[3]].filter((x): x is string => x !== undefined) : [];
  // An unknown field's name is the caller's text: say only that there is one.
  const message = !m
    ? "is not valid"
    : m[4]?.startsWith("unknown field")
      ? "has a field that is not allowed"
      : m[4];
  ctx.addIssue({ code: "custom", path, message: message ?? "is not valid" });
}

const eventTypes = z.array(z.string()).transform((patterns, ctx): string[] => {
  const r = validateTypePatterns(patterns);
  if (r.ok) return [...new Set(r.value)];
  addReason(ctx, r.reason);
  return z.NEVER;
});

const conditions = z.array(z.record(z.string(), z.unknown())).transform((input, ctx): Condition[] => {
  const r = validateConditions(input);
  if (r.ok) return r.value;
  addReason(ctx, r.reason);
  return z.NEVER;
});

export const subscriptionFields = {
  name: shownName(200),
  destination_id: z.string().regex(ID("dst"), "must be a destination id (dst_…)"),
  /** Empty: every source of the project. */
  source_ids: z.array(z.string().regex(ID("src"), "must be a source id (src_…)")).max(MAX_SOURCE_IDS),
  /** Exact CloudEvents types, `*`, or prefixes ending in `*`; empty: every type. */
  event_types: eventTypes,
  /** Payload conditions that must all hold; empty: no condition. */
  conditions,
  enabled: z.boolean(),
};

const f = subscriptionFields;

export const createSubscriptionInput = z.strictObject({
  name: f.name.optional(),
  destination_id: f.destination_id,
  source_ids: f.source_ids.optional(),
  event_types: f.event_types.optional(),
  conditions: f.conditions.optional(),
  enabled: f.enabled.optional(),
});

export const updateSubscriptionInput = z
  .strictObject({
    name: f.name.optional(),
    destination_id: f.destination_id.optional(),
    source_ids: f.source_ids.optional(),
    event_types: f.event_types.optional(),
    conditions: f.conditions.optional(),
    enabled: f.enabled.optional(),
  })
  .refine((v) => Object.values(v).some((x) => x !== undefined), "names no field to change");

export type CreateSubscriptionInput = z.input<typeof createSubscriptionInput>;
export type UpdateSubscriptionInput = z.input<typeof updateSubscriptionInput>;
