/**
 * The signature schemes, keyed by name. Every scheme implements
 * SignatureScheme; shared.test.ts runs one suite against each.
 */
import { meta } from "../providers/meta.ts";
import { twitch } from "../providers/twitch.ts";
import { zoom } from "../providers/zoom.ts";
import type { SchemeName } from "../types.ts";
import { genericHmac } from "./generic-hmac.ts";
import { github } from "./github.ts";
import { gitlab } from "./gitlab.ts";
import type { SignatureScheme } from "./scheme.ts";
import { shopify } from "./shopify.ts";
import { slack } from "./slack.ts";
import { standardWebhooks } from "./standard-webhooks.ts";
import { stripe } from "./stripe.ts";
import { zenmesh } from "./zenmesh.ts";

export { genericHmacSettings } from "./generic-hmac.ts";
export type { DescribeInput, RequestHeaders, SchemeSettings, SignatureScheme, SignInput } from "./scheme.ts";

export const SCHEMES: Readonly<Record<SchemeName, SignatureScheme>> = {
  github,
  gitlab,
  stripe,
  slack,
  shopify,
  "standard-webhooks": standardWebhooks,
  "generic-hmac": genericHmac,
  zenmesh,
  zoom,
  twitch,
  meta,
};

export function getScheme(name: SchemeName): SignatureScheme;
export function getScheme(name: string): SignatureScheme | undefined;
export function getScheme(name: string): SignatureScheme | undefined {
  return Object.hasOwn(SCHEMES, name) ? SCHEMES[name as SchemeName] : undefined;
}
