/**
 * Each asymmetric and special provider through the real ingest path: its
 * sample, signed as the provider signs it (with the provider's private key
 * for Discord and SendGrid, at the URL called for Twilio and Mandrill), is
 * accepted by the listener and stored with the type, subject and delivery id
 * its entry names; the same request with another body is refused.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestIngest, type TestIngest } from "../ingester/testing.ts";
import { getScheme } from "../schemes/index.ts";
import type { SchemeName } from "../types.ts";
import { ed25519Secret, p256Secret, signingKeyOf } from "./keys.test-support.ts";

interface Case {
  scheme: SchemeName;
  /** The secret the source holds, and what signs for it. */
  keys: () => { secret: string; signWith: string };
  type: string;
  subject?: string;
  deliveryId?: string;
}

const own = (scheme: SchemeName) => () => {
  const secret = getScheme(scheme).generateSecret();
  return { secret, signWith: secret };
};
const pair = (make: () => string) => () => {
  const secret = make();
  return { secret, signWith: signingKeyOf(secret) };
};

const CASES: Case[] = [
  {
    scheme: "discord",
    keys: pair(ed25519Secret),
    type: "com.discord.application_command",
    subject: "1000000000000000004",
    deliveryId: "1000000000000000005",
  },
  { scheme: "sendgrid", keys: pair(p256Secret), type: "com.sendgrid.events" },
  {
    scheme: "twilio",
    keys: own("twilio"),
    type: "com.twilio.message",
    subject: "AC00000000000000000000000000000000",
  },
  {
    scheme: "postmark",
    keys: own("postmark"),
    type: "com.postmark.Delivery",
    subject: "00000000-0000-0000-0000-000000000000",
  },
  {
    scheme: "clerk",
    keys: own("clerk"),
    type: "com.clerk.user.created",
    subject: "user_29w83sxmDNGwOuEthce5gg56FcC",
  },
  {
    scheme: "resend",
    keys: own("resend"),
    type: "com.resend.email.sent",
    subject: "56761188-7520-42d8-8898-ff6fc54ce618",
  },
  { scheme: "mandrill", keys: own("mandrill"), type: "com.mandrill.events" },
];

describe("the asymmetric and special providers through the ingest listener", () => {
  let ingest: TestIngest;
  before(async () => {
    ingest = await startTestIngest();
  });
  after(async () => {
    await ingest.close();
  });

  for (const c of CASES) {
    test(`${c.scheme}: the sample, signed as the provider signs it, is stored as ${c.type}`, async () => {
      const scheme = getScheme(c.scheme);
      const { secret, signWith } = c.keys();
      const sample = scheme.provider.sample;
      const source = await ingest.source(`path-${c.scheme}`, [secret], {
        scheme: c.scheme,
        settings: {},
        contentTypes: [sample.contentType],
      });
      const url = `${ingest.url}/e/${source.id}`;
      const body = Buffer.from(sample.body);
      const headers = {
        "content-type": sample.contentType,
        ...sample.headers,
        ...scheme.sign({ secret: signWith, body, now: new Date(), url, id: "msg_2d1fQ8pathtest" }),
      };
      const res = await fetch(url, { method: "POST", headers, body });
      const answer = (await res.json()) as { id?: string };
      assert.equal(res.status, 202, JSON.stringify(answer));
      const rows = await ingest.t.db.withTenant(source.tenantId, (tx) =>
        tx.query<{ type: string; subject: string | null; provider_delivery_id: string | null }>(
          "select type, subject, provider_delivery_id from events where id = $1",
          [answer.id],
        ),
      );
      assert.equal(rows.rows.length, 1);
      assert.equal(rows.rows[0]!.type, c.type);
      if (c.subject !== undefined) assert.equal(rows.rows[0]!.subject, c.subject);
      if (c.deliveryId !== undefined) assert.equal(rows.rows[0]!.provider_delivery_id, c.deliveryId);

      // The same headers over another body: refused, nothing stored.
      const tampered = Buffer.from(`${sample.body.slice(0, -1)} ${sample.body.slice(-1)}`);
      const refused = await fetch(url, { method: "POST", headers, body: tampered });
      const error = (await refused.json()) as { error?: { code: string } };
      if (c.scheme === "postmark") {
        // Basic auth binds no body: the credentials admit it, as a new event.
        assert.equal(refused.status, 202);
      } else {
        assert.equal(refused.status, 401, JSON.stringify(error));
        assert.equal(error.error?.code, "SIGNATURE_INVALID");
      }
    });
  }
});
