/**
 * Shopify's scheme, under the name the registry and the rest of the code
 * import. The provider itself is an entry over the HMAC engine
 * (src/ingest/providers/shopify.ts), where what Shopify signs is described.
 */
export { shopify } from "../providers/shopify.ts";
