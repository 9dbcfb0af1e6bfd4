import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CertificateAuthority } from "./ca.ts";
import { createRenewingIdentity } from "./renew.ts";
import type { Svid } from "./types.ts";

const TD = "zenmesh.local";

describe("createRenewingIdentity", () => {
  test("renews a 2-second SVID several times, tells every listener, and stops on close", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    let issued = 0;
    const identity = await createRenewingIdentity({
      issue: () => {
        issued++;
        return ca.issueSvid({ path: "ingester", ttlSeconds: 2 });
      },
      minDelayMs: 50,
    });
    const first = identity.current();
    const seenA: Svid[] = [];
    const seenB: Svid[] = [];
    identity.onUpdate((s) => seenA.push(s));
    const unsubscribe = identity.onUpdate((s) => seenB.push(s));
    await sleep(3500);
    assert.ok(seenA.length >= 3, `renewed ${seenA.length} times`);
    assert.equal(seenB.length, seenA.length);
    assert.notEqual(identity.current().certChainPem, first.certChainPem);
    assert.equal(identity.current(), seenA.at(-1));
    assert.equal(new Set(seenA.map((s) => s.certChainPem)).size, seenA.length, "each renewal is a new SVID");
    unsubscribe();
    await identity.close();
    const issuedAtClose = issued;
    await sleep(1500);
    assert.equal(issued, issuedAtClose, "no renewal after close");
    await assert.rejects(identity.renewNow());
  });

  test("renewNow issues at once and coalesces concurrent calls", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    let issued = 0;
    const identity = await createRenewingIdentity({
      issue: () => {
        issued++;
        return ca.issueSvid({ path: "backend" });
      },
    });
    const [a, b] = await Promise.all([identity.renewNow(), identity.renewNow()]);
    assert.equal(a, b);
    assert.equal(issued, 2);
    assert.equal(identity.current(), a);
    await identity.close();
  });

  test("keeps the valid SVID through failures, retries with backoff, and recovers", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    let failing = false;
    let attempts = 0;
    const errors: unknown[] = [];
    const identity = await createRenewingIdentity({
      issue: async () => {
        attempts++;
        if (failing) throw new Error("CA unreachable");
        return ca.issueSvid({ path: "egress", ttlSeconds: 4 });
      },
      minDelayMs: 50,
      maxRetryDelayMs: 200,
      onError: (e) => errors.push(e),
    });
    const held = identity.current();
    failing = true;
    await assert.rejects(identity.renewNow(), /CA unreachable/);
    await sleep(1200);
    assert.equal(identity.current(), held, "the still-valid SVID stays current");
    assert.ok(errors.length >= 3, `retried ${errors.length} times`);
    assert.ok(attempts < 40, `backoff keeps retries bounded (${attempts})`);
    failing = false;
    await sleep(600);
    assert.notEqual(identity.current(), held, "recovered with a new SVID");
    await identity.close();
  });

  test("a throwing listener does not stop the others or the renewal", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const errors: unknown[] = [];
    const identity = await createRenewingIdentity({
      issue: () => ca.issueSvid({ path: "bff" }),
      onError: (e) => errors.push(e),
    });
    const seen: Svid[] = [];
    identity.onUpdate(() => {
      throw new Error("listener broke");
    });
    identity.onUpdate((s) => seen.push(s));
    await identity.renewNow();
    assert.equal(seen.length, 1);
    assert.equal(errors.length, 1);
    await identity.close();
  });

  test("fails to start when the first issuance fails", async () => {
    await assert.rejects(
      createRenewingIdentity({
        issue: () => Promise.reject(new Error("no CA")),
      }),
      /no CA/,
    );
  });
});
