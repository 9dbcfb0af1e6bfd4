/**
 * Discord interactions, following "Receiving and Responding to Interactions"
 * (https://discord.com/developers/docs/interactions/receiving-and-responding#security-and-authorization):
 *
 *   X-Signature-Ed25519:   hex(Ed25519(application private key, timestamp + body))
 *   X-Signature-Timestamp: <unix seconds>
 *
 * The source's secret is the application's PUBLIC key (hex, "Public Key" on
 * the application's General Information page). Discord's PING (`{"type":1}`),
 * sent when the Interactions Endpoint URL is saved and at random afterwards
 * with good and bad signatures, is answered `{"type":1}` only when its
 * signature verifies, and is never stored. Event type: the interaction type
 * by name (`com.discord.application_command`, …); the interaction id is the
 * delivery id and the idempotency key.
 */
import { ed25519Scheme } from "./engine-ed25519.ts";

export const discord = ed25519Scheme({
  name: "discord",
  title: "Discord",
  docs: "https://discord.com/developers/docs/interactions/receiving-and-responding#security-and-authorization",
  sample: {
    contentType: "application/json",
    body: '{"app_permissions":"442368","application_id":"1000000000000000001","channel_id":"1000000000000000002","data":{"id":"1000000000000000003","name":"ping","type":1},"guild_id":"1000000000000000004","id":"1000000000000000005","token":"aW50ZXJhY3Rpb246MTAwMDAwMDAwMDAwMDAwMDA1","type":2,"version":1}',
  },
  signatureHeader: "x-signature-ed25519",
  timestampHeader: "x-signature-timestamp",
  typePrefix: "com.discord",
  eventType: { pointer: "/type" },
  // https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-interaction-type
  eventNames: {
    "1": "ping",
    "2": "application_command",
    "3": "message_component",
    "4": "application_command_autocomplete",
    "5": "modal_submit",
  },
  deliveryId: { pointer: "/id" },
  idempotencyKey: { pointer: "/id" },
  subject: { pointer: "/guild_id" },
  handshake: { pointer: "/type", equals: 1, answer: '{"type":1}' },
});
