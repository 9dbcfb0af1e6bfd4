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
import { PROVIDER_PUBLIC_KEY } from "./entry.ts";

/** RFC 8032 §7.1 TEST 1's public key (its private half signs the examples). */
const RFC8032_TEST1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/** RFC 8032 §7.1 TEST 2's public key: a valid key that signed none of them. */
const RFC8032_TEST2_PUBLIC = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const headers = (signature: string) => ({
  "content-type": "application/json",
  "x-signature-ed25519": signature,
  "x-signature-timestamp": "1700000000",
});

export const discord = ed25519Scheme({
  name: "discord",
  engine: "ed25519",
  title: "Discord",
  docs: "https://discord.com/developers/docs/interactions/receiving-and-responding#security-and-authorization",
  sample: {
    contentType: "application/json",
    body: '{"app_permissions":"442368","application_id":"1000000000000000001","channel_id":"1000000000000000002","data":{"id":"1000000000000000003","name":"ping","type":1},"guild_id":"1000000000000000004","id":"1000000000000000005","token":"aW50ZXJhY3Rpb246MTAwMDAwMDAwMDAwMDAwMDA1","type":2,"version":1}',
  },
  contentTypes: ["application/json"],
  signatureHeader: "x-signature-ed25519",
  timestampHeader: "x-signature-timestamp",
  facts: {
    type: {
      prefix: "com.discord",
      parts: [
        {
          pointer: "/type",
          // https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-interaction-type
          names: {
            "1": "ping",
            "2": "application_command",
            "3": "message_component",
            "4": "application_command_autocomplete",
            "5": "modal_submit",
          },
        },
      ],
    },
    deliveryId: { pointer: "/id" },
    idempotencyKey: { pointer: "/id" },
    subject: { pointer: "/guild_id" },
  },
  secret: PROVIDER_PUBLIC_KEY,
  handshake: { pointer: "/type", equals: 1, answer: '{"type":1}' },
  // Discord publishes no signed example: these were computed from its documented algorithm
  // (Ed25519 over timestamp + body) with RFC 8032's TEST 1 key pair, and Discord's own
  // library (discord-interactions) verifies each (providers/asym-vectors.test.ts).
  examples: [
    {
      label: "an application command, signed with RFC 8032 TEST 1's key",
      secret: RFC8032_TEST1_PUBLIC,
      otherSecret: RFC8032_TEST2_PUBLIC,
      headers: headers(
        "dcac1106a163c4a6b1cf5257c447b114a15bb402ebc125005ec3ae7a033d50764c7d4829cbb871f16acd75a6e1f305f3988704e550d2913dc636d55f0b307b08",
      ),
      body: '{"application_id":"1000000000000000001","id":"1000000000000000005","type":2,"data":{"name":"ping"}}',
      now: "2023-11-14T22:13:20Z",
      expect: {
        ok: true,
        type: "com.discord.application_command",
        deliveryId: "1000000000000000005",
        idempotencyKey: "1000000000000000005",
      },
    },
    {
      label: "the endpoint PING, signed with RFC 8032 TEST 1's key",
      secret: RFC8032_TEST1_PUBLIC,
      otherSecret: RFC8032_TEST2_PUBLIC,
      headers: headers(
        "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f",
      ),
      body: '{"type":1}',
      now: "2023-11-14T22:13:20Z",
      expect: { ok: true, type: "com.discord.ping" },
    },
    {
      label: "the application command five minutes and a second after it was signed",
      secret: RFC8032_TEST1_PUBLIC,
      headers: headers(
        "dcac1106a163c4a6b1cf5257c447b114a15bb402ebc125005ec3ae7a033d50764c7d4829cbb871f16acd75a6e1f305f3988704e550d2913dc636d55f0b307b08",
      ),
      body: '{"application_id":"1000000000000000001","id":"1000000000000000005","type":2,"data":{"name":"ping"}}',
      now: "2023-11-14T22:18:21Z",
      expect: { ok: false, reason: "stale" },
    },
  ],
});
