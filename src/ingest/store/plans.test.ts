/**
 * The duplicate lookup runs in every ingest batch, so its cost must not grow
 * with the events table. It once did, twice: PGlite planned a semi-join
 * without statistics as a scan of every event, and on PostgreSQL Row Level
 * Security kept the non-leakproof decode() out of the index scan. Both
 * drivers are held to a plan whose index condition names the fingerprint,
 * under the runtime role, before and after the tables are analyzed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { DUPLICATES_SQL } from "./fingerprint.ts";
import { persistBatch } from "./persist.ts";
import { createTestTenant, testIngestDeps, testItem } from "./testing.ts";

for (const kind of DRIVERS) {
  describe(`the duplicate lookup's plan on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let tenantId: string;
    const fingerprints: string[] = [];

    const plan = () =>
      t.db.withTenant(tenantId, async (tx) => {
        const r = await tx.query<{ "QUERY PLAN": string }>(`explain ${DUPLICATES_SQL}`, [
          tenantId,
          fingerprints.slice(0, 32),
          1,
          new Date(0),
        ]);
        return r.rows.map((row) => row["QUERY PLAN"]).join("\n");
      });

    before(async () => {
      t = await freshDatabase(kind);
      const deps = testIngestDeps(t.db);
      const created = await createTestTenant(deps, "plans");
      tenantId = created.tenantId;
      const source = created.sourceId;
      for (let batch = 0; batch < 20; batch++) {
        const items = Array.from({ length: 100 }, () => testItem(source, new Date(), {}));
        const out = await persistBatch(deps, items);
        assert.ok(out.every((o) => o.status === "stored"));
      }
      const rows = await t.admin<{ fp: string }>(
        "select encode(fingerprint, 'hex') as fp from events where tenant_id = $1 limit 32",
        [tenantId],
      );
      fingerprints.push(...rows.map((r) => r.fp));
    });
    after(() => t?.close());

    const probesTheIndex = (text: string) => {
      assert.match(text, /Index Cond: \(.*fingerprint = f\.fp.*\)/, text);
      assert.doesNotMatch(text, /Seq Scan on events/, text);
    };

    test("probes the fingerprint index before the table has statistics", async () => {
      probesTheIndex(await plan());
    });

    test("and after it is analyzed", async () => {
      await t.admin("analyze events");
      probesTheIndex(await plan());
    });
  });
}
