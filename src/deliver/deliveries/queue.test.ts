import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { createTableQueue, type DeliveryQueue } from "./queue.ts";

const NOW = new Date("2031-03-01T00:00:00Z");
const OPTS = { now: NOW, limit: 200, leaseMs: 60_000, cooldownMs: 30_000 };

/**
 * `count` due entries of one tenant (one destination each `perDestination`),
 * due from `firstDueSecondsAgo` seconds ago, one second apart. The queue is
 * installation-wide and references nothing, so rows go straight in.
 */
async function backlog(
  t: TestDatabase,
  tenant: string,
  count: number,
  firstDueSecondsAgo: number,
  opts: { fifo?: boolean; perDestination?: number } = {},
): Promise<void> {
  await t.admin(
    `insert into delivery_queue (delivery_id, tenant_id, destination_id, seq, fifo, due_at)
     select $1 || '_' || i, $1, $1 || '_dst_' || (i / $5), i, $4,
            $2::timestamptz - make_interval(secs => $3 - i)
       from generate_series(1, $6::int) as i`,
    [tenant, NOW, firstDueSecondsAgo, opts.fifo ?? false, opts.perDestination ?? 100, count],
  );
}

for (const kind of DRIVERS) {
  describe(`delivery claim fairness on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let queue: DeliveryQueue;

    before(async () => {
      t = await freshDatabase(kind);
      queue = createTableQueue(t.db);
    });
    after(async () => {
      await t?.close();
    });

    test("a tenant with 10,000 due deliveries does not starve one with 10: the first batch has all of B's", async () => {
      await t.admin("delete from delivery_queue");
      // A's backlog is older than anything of B's, so ordering by due time alone would hand out A's only.
      await backlog(t, "ten_a", 10_000, 20_000);
      await backlog(t, "ten_b", 10, 100);
      const claims = await queue.claim(OPTS);
      assert.equal(claims.length, 200, "a full batch");
      const b = claims.filter((c) => c.tenantId === "ten_b");
      assert.equal(b.length, 10, "every one of B's due deliveries is in the first batch");
      // Within a tenant, the oldest first.
      const a = claims.filter((c) => c.tenantId === "ten_a").map((c) => Number(c.deliveryId.split("_")[2]));
      assert.deepEqual(
        a,
        Array.from({ length: 190 }, (_, i) => i + 1),
      );
      // Nothing is handed out twice: the claimed rows are leased.
      const again = await queue.claim(OPTS);
      assert.equal(again.length, 200);
      assert.ok(again.every((c) => c.tenantId === "ten_a"));
      assert.equal(new Set([...claims, ...again].map((c) => c.deliveryId)).size, 400);
    });

    test("turns alternate between tenants with work; a tenant alone still gets a full batch", async () => {
      await t.admin("delete from delivery_queue");
      await backlog(t, "ten_a", 1000, 5000);
      await backlog(t, "ten_b", 1000, 100);
      await backlog(t, "ten_c", 1000, 100);
      const claims = await queue.claim({ ...OPTS, limit: 90 });
      const per = (id: string) => claims.filter((c) => c.tenantId === id).length;
      assert.deepEqual([per("ten_a"), per("ten_b"), per("ten_c")], [30, 30, 30]);

      await t.admin("delete from delivery_queue");
      await backlog(t, "ten_a", 500, 5000);
      assert.equal((await queue.claim(OPTS)).length, 200);
    });

    test("tenants whose due work is all blocked take no share: the batch still fills from the others", async () => {
      await t.admin("delete from delivery_queue");
      // Nine tenants whose only due entries wait behind a FIFO head in flight: due, unleased, unclaimable.
      for (let i = 1; i <= 9; i++) {
        await backlog(t, `ten_blocked${i}`, 5, 100, { fifo: true });
        await t.admin(
          "update delivery_queue set lease_until = $1, lease_token = 'held' where delivery_id = $2",
          [new Date(NOW.getTime() + 60_000), `ten_blocked${i}_1`],
        );
      }
      await backlog(t, "ten_b", 1000, 5000);
      const claims = await queue.claim(OPTS);
      assert.equal(claims.length, 200, "a full batch from the one tenant that can use it");
      assert.ok(claims.every((c) => c.tenantId === "ten_b"));
    });

    test("a leased, not yet due or FIFO-blocked entry is not claimed, whatever its tenant's turn", async () => {
      await t.admin("delete from delivery_queue");
      await backlog(t, "ten_f", 5, 100, { fifo: true });
      await t.admin(
        "update delivery_queue set lease_until = $1, lease_token = 'held' where delivery_id = 'ten_f_1'",
        [new Date(NOW.getTime() + 60_000)],
      );
      await t.admin(
        `insert into delivery_queue (delivery_id, tenant_id, destination_id, seq, fifo, due_at)
         values ('ten_g_1', 'ten_g', 'ten_g_dst', 1, false, $1)`,
        [new Date(NOW.getTime() + 1000)],
      );
      assert.deepEqual(await queue.claim(OPTS), []);
    });
  });
}
