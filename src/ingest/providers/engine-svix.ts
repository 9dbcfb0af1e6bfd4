/**
 * Standard Webhooks under Svix's header names (`svix-id`, `svix-timestamp`,
 * `svix-signature`), as providers that deliver through Svix send them (Clerk,
 * Resend). The signing is Standard Webhooks' own, verified by
 * schemes/standard-webhooks.ts: only the three named headers are handed to it
 * (renamed), so a request's own `webhook-*` headers are never read for such
 * a source. Secrets are `whsec_` + base64, as the provider shows them.
 */
import { z } from "zod";
import type { ProviderSample, RequestHeaders, SignatureScheme } from "../schemes/scheme.ts";
import {
  generateStandardWebhooksSecret,
  signStandardWebhooks,
  verifyStandardWebhooks,
  WEBHOOK_ID,
  WEBHOOK_SIGNATURE,
  WEBHOOK_TIMESTAMP,
} from "../schemes/standard-webhooks.ts";
import type { SchemeName } from "../types.ts";
import { describeFromEntry, type FactsEntry } from "./engine-facts.ts";

export const SVIX_ID = "svix-id";
export const SVIX_TIMESTAMP = "svix-timestamp";
export const SVIX_SIGNATURE = "svix-signature";

export interface SvixEntry extends FactsEntry {
  name: SchemeName;
  title: string;
  docs: string;
  sample: ProviderSample;
}

function asStandard(headers: RequestHeaders): RequestHeaders {
  return {
    [WEBHOOK_ID]: Object.hasOwn(headers, SVIX_ID) ? headers[SVIX_ID] : undefined,
    [WEBHOOK_TIMESTAMP]: Object.hasOwn(headers, SVIX_TIMESTAMP) ? headers[SVIX_TIMESTAMP] : undefined,
    [WEBHOOK_SIGNATURE]: Object.hasOwn(headers, SVIX_SIGNATURE) ? headers[SVIX_SIGNATURE] : undefined,
  };
}

export function svixScheme(entry: SvixEntry): SignatureScheme {
  return {
    name: entry.name,
    provider: { title: entry.title, docs: entry.docs, sample: entry.sample },
    settings: z.strictObject({}).prefault({}),
    verify: (input) => verifyStandardWebhooks({ ...input, headers: asStandard(input.headers) }),
    describe: (input) => describeFromEntry(entry, input),
    sign(input) {
      const h = signStandardWebhooks(input);
      return {
        [SVIX_ID]: h[WEBHOOK_ID]!,
        [SVIX_TIMESTAMP]: h[WEBHOOK_TIMESTAMP]!,
        [SVIX_SIGNATURE]: h[WEBHOOK_SIGNATURE]!,
      };
    },
    generateSecret: generateStandardWebhooksSecret,
  };
}
