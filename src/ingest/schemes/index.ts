/**
 * The signature schemes, keyed by name. Every scheme implements
 * SignatureScheme; shared.test.ts runs one suite against each.
 */

import { bitbucket } from "../providers/bitbucket.ts";
import { calendly } from "../providers/calendly.ts";
import { clerk } from "../providers/clerk.ts";
import { coinbaseCommerce } from "../providers/coinbase-commerce.ts";
import { discord } from "../providers/discord.ts";
import { gitea } from "../providers/gitea.ts";
import { heroku } from "../providers/heroku.ts";
import { hubspot } from "../providers/hubspot.ts";
import { intercom } from "../providers/intercom.ts";
import { jira } from "../providers/jira.ts";
import { lemonSqueezy } from "../providers/lemon-squeezy.ts";
import { linear } from "../providers/linear.ts";
import { mandrill } from "../providers/mandrill.ts";
import { meta } from "../providers/meta.ts";
import { microsoftGraph } from "../providers/microsoft-graph.ts";
import { mux } from "../providers/mux.ts";
import { paddle } from "../providers/paddle.ts";
import { pagerduty } from "../providers/pagerduty.ts";
import { postmark } from "../providers/postmark.ts";
import { razorpay } from "../providers/razorpay.ts";
import { resend } from "../providers/resend.ts";
import { sendgrid } from "../providers/sendgrid.ts";
import { sentry } from "../providers/sentry.ts";
import { square } from "../providers/square.ts";
import { twilio } from "../providers/twilio.ts";
import { twitch } from "../providers/twitch.ts";
import { typeform } from "../providers/typeform.ts";
import { vercel } from "../providers/vercel.ts";
import { webflow } from "../providers/webflow.ts";
import { woocommerce } from "../providers/woocommerce.ts";
import { zendesk } from "../providers/zendesk.ts";
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
  // Asymmetric and special providers.
  discord,
  sendgrid,
  twilio,
  postmark,
  clerk,
  resend,
  mandrill,
  // Providers as entries over the HMAC engine.
  paddle,
  "lemon-squeezy": lemonSqueezy,
  square,
  razorpay,
  "coinbase-commerce": coinbaseCommerce,
  linear,
  intercom,
  hubspot,
  typeform,
  calendly,
  bitbucket,
  sentry,
  vercel,
  woocommerce,
  jira,
  zendesk,
  webflow,
  pagerduty,
  mux,
  gitea,
  heroku,
  zoom,
  twitch,
  meta,
  "microsoft-graph": microsoftGraph,
};

export function getScheme(name: SchemeName): SignatureScheme;
export function getScheme(name: string): SignatureScheme | undefined;
export function getScheme(name: string): SignatureScheme | undefined {
  return Object.hasOwn(SCHEMES, name) ? SCHEMES[name as SchemeName] : undefined;
}
