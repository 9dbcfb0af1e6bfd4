/**
 * The delivery queue: work still to do, behind one interface so a log engine
 * can replace the table when one database is no longer enough. This
 * implementation keeps it in PostgreSQL: due entries are claimed with
 * `FOR UPDATE SKIP LOCKED` and a lease, so several backend replicas never
 * hand out the same attempt twice at once, and a lease that expires (egress
 * died mid-request) makes the entry claimable again. FIFO destinations are
 * claimed head-first only; a destination whose circuit is open is skipped
 * until its cooldown ends, then exactly one probe is handed out.
 */
import { randomBase62 } from "../../core/index.ts";
import type { Database, Tx } from "../../db/index.ts";

export interface QueueEntry {
  deliveryId: string;
  tenantId: string;
  destinationId: string;
  seq: number;
  fifo: boolean;
  dueAt: Date;
  /** Already handed out (the ingest fast path): claimable again only after the lease ends. */
  lease?: { token: string; until: Date };
}

export interface Claim {
  deliveryId: string;
  tenantId: string;
  destinationId: string;
  leaseToken: string;
  leaseUntil: Date;
  /** A half-open circuit's single probe. */
  probe: boolean;
}

export interface Lease {
  deliveryId: string;
  tenantId: string;
  leaseToken: string | null;
}

export interface ClaimOptions {
  now: Date;
  limit: number;
  leaseMs: number;
  /** How long an open circuit waits before a probe. */
  cooldownMs: number;
}

export interface DeliveryQueue {
  /** In the transaction that creates or replays the deliveries. */
  enqueue(tx: Tx, entries: readonly QueueEntry[]): Promise<void>;
  claim(opts: ClaimOptions): Promise<Claim[]>;
  /** The queue's view of these deliveries (absent: no longer queued). */
  leases(deliveryIds: readonly string[]): Promise<Map<string, Lease>>;
  /** Each due again at its `dueAt`, lease cleared (after a failed or deferred attempt); one statement. */
  reschedule(tx: Tx, entries: readonly { deliveryId: string; dueAt: Date }[]): Promise<void>;
  /** Succeeded or dead-lettered: nothing left to do. */
  remove(tx: Tx, deliveryIds: readonly string[]): Promise<void>;
  /** Hands leased entries back (a hand-off that failed), if their lease is still the given one. */
  release(entries: readonly { deliveryId: string; leaseToken: string }[], dueAt: Date): Promise<number>;
}

export const newLeaseToken = () => randomBase62(22);

interface CandidateRow {
  delivery_id: string;
  tenant_id: string;
  destination_id: string;
  state: string;
  /** Its tenant offered as many entries as its share: it may have more. */
  capped: boolean;
}

/** Passes of one claim; each after the first runs only when a tenant was held to its share. */
const MAX_CLAIM_PASSES = 4;

/**
 * One pass of a claim: turns across tenants. The tenants with due work come
 * (not leased) come from a skip scan of (tenant_id, due_at, seq); each offers its oldest
 * claimable entries, at most an equal share of the batch, from the same index
 * in due order; the batch takes every tenant's first, then every tenant's
 * second, and so on, so a tenant with a huge backlog cannot starve the
 * others. A FIFO entry is claimable only while no earlier entry of its
 * destination is queued; a half-open circuit whose probe outlived its lease
 * gets another probe. Candidates are locked last, skipping those another
 * replica holds. $1 now, $2 entries wanted, $3 cooled since, $4 stale probe,
 * $5 the share (null: an equal share among the tenants with due work; a later
 * pass divides what is left among those held to their share only, so tenants
 * whose due work is all blocked do not keep shrinking it).
 */
const CLAIM_SQL = `with recursive tenants(tenant_id) as (
    (select tenant_id from delivery_queue
      where due_at <= $1 and (lease_until is null or lease_until <= $1) order by tenant_id limit 1)
    union all
    select (select n.tenant_id from delivery_queue n
             where n.tenant_id > t.tenant_id and n.due_at <= $1 and (n.lease_until is null or n.lease_until <= $1)
             order by n.tenant_id limit 1)
      from tenants t where t.tenant_id is not null
  ),
  share as (
    select coalesce($5::int, ceil($2::numeric / greatest(count(*), 1))::int) as n
      from tenants where tenant_id is not null
  ),
  offered as (
    select c.*, c.turn = s.n as capped
      from tenants t
      cross join share s
      cross join lateral (
        select q.delivery_id, q.tenant_id, q.destination_id, q.due_at, q.seq,
               coalesce(g.state, 'closed') as state,
               row_number() over (order by q.due_at, q.seq) as turn
          from delivery_queue q
          left join destination_gates g on g.destination_id = q.destination_id
         where q.tenant_id = t.tenant_id
           and q.due_at <= $1
           and (q.lease_until is null or q.lease_until <= $1)
           and (g.state is null or g.state in ('closed', 'disabled')
                or (g.state = 'open' and g.opened_at <= $3)
                or (g.state = 'half_open' and g.updated_at <= $4))
           and (not q.fifo or not exists (
                 select 1 from delivery_queue h where h.destination_id = q.destination_id and h.seq < q.seq))
         order by q.due_at, q.seq
         limit s.n
      ) c
     where t.tenant_id is not null
  ),
  batch as (select * from offered order by turn, due_at, seq limit $2)
  select q.delivery_id, q.tenant_id, q.destination_id, b.state, b.capped
    from batch b
    join delivery_queue q on q.delivery_id = b.delivery_id
   where q.due_at <= $1 and (q.lease_until is null or q.lease_until <= $1)
   order by b.turn, b.due_at, b.seq
   for update of q skip locked`;

export function createTableQueue(db: Database): DeliveryQueue {
  return {
    async enqueue(tx, entries) {
      if (entries.length === 0) return;
      await tx.query(
        `insert into delivery_queue (delivery_id, tenant_id, destination_id, seq, fifo, due_at, lease_until, lease_token)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[], $6::timestamptz[],
                              $7::timestamptz[], $8::text[])
         on conflict (delivery_id) do update
           set due_at = excluded.due_at, lease_until = excluded.lease_until, lease_token = excluded.lease_token`,
        [
          entries.map((e) => e.deliveryId),
          entries.map((e) => e.tenantId),
          entries.map((e) => e.destinationId),
          entries.map((e) => e.seq),
          entries.map((e) => e.fifo),
          entries.map((e) => e.dueAt),
          entries.map((e) => e.lease?.until ?? null),
          entries.map((e) => e.lease?.token ?? null),
        ],
      );
    },

    claim(opts) {
      return db.withGlobal(async (tx) => {
        const cooledSince = new Date(opts.now.getTime() - opts.cooldownMs);
        const staleProbe = new Date(opts.now.getTime() - opts.leaseMs);
        const leaseUntil = new Date(opts.now.getTime() + opts.leaseMs);
        // The planner prices the per-tenant scans as if each read its tenant's whole backlog, which
        // would switch JIT compilation on (seconds); the scans stop after a few rows, so it only costs.
        await tx.query("select set_config('jit', 'off', true)");
        const claims: Claim[] = [];
        const probing = new Set<string>();
        // A pass offers each tenant an equal share of what is left; a tenant with less leaves the
        // rest to another pass, where those with more take it. Claimed entries are leased at once,
        // so a later pass does not see them again.
        let share: number | null = null;
        for (let pass = 0; pass < MAX_CLAIM_PASSES && claims.length < opts.limit; pass++) {
          const r = await tx.query<CandidateRow>(CLAIM_SQL, [
            opts.now,
            opts.limit - claims.length,
            cooledSince,
            staleProbe,
            share,
          ]);
          const chosen: CandidateRow[] = [];
          for (const row of r.rows) {
            if (row.state === "open" || row.state === "half_open") {
              if (probing.has(row.destination_id)) continue;
              probing.add(row.destination_id);
            }
            chosen.push(row);
          }
          if (chosen.length > 0) {
            const probes = [
              ...new Set(chosen.filter((c) => probing.has(c.destination_id)).map((c) => c.destination_id)),
            ];
            if (probes.length > 0) {
              await tx.query(
                `update destination_gates set state = 'half_open', updated_at = $2
                  where destination_id = any($1::text[]) and state in ('open', 'half_open')`,
                [probes, opts.now],
              );
            }
            const tokens = chosen.map(() => newLeaseToken());
            await tx.query(
              `update delivery_queue q set lease_until = $1, lease_token = t.token
                 from unnest($2::text[], $3::text[]) as t(id, token)
                where q.delivery_id = t.id`,
              [leaseUntil, chosen.map((c) => c.delivery_id), tokens],
            );
            for (const [i, c] of chosen.entries()) {
              claims.push({
                deliveryId: c.delivery_id,
                tenantId: c.tenant_id,
                destinationId: c.destination_id,
                leaseToken: tokens[i]!,
                leaseUntil,
                probe: probing.has(c.destination_id),
              });
            }
          }
          // Nobody was held back by their share: there is nothing more to claim now. Otherwise the
          // next pass divides what is left among the tenants that were (they may have more).
          const held = new Set(r.rows.filter((row) => row.capped).map((row) => row.tenant_id)).size;
          if (held === 0) break;
          share = Math.ceil((opts.limit - claims.length) / held);
        }
        return claims;
      });
    },

    async leases(deliveryIds) {
      if (deliveryIds.length === 0) return new Map();
      const r = await db.withGlobal((tx) =>
        tx.query<{ delivery_id: string; tenant_id: string; lease_token: string | null }>(
          "select delivery_id, tenant_id, lease_token from delivery_queue where delivery_id = any($1::text[])",
          [[...deliveryIds]],
        ),
      );
      return new Map(
        r.rows.map((row) => [
          row.delivery_id,
          { deliveryId: row.delivery_id, tenantId: row.tenant_id, leaseToken: row.lease_token },
        ]),
      );
    },

    async reschedule(tx, entries) {
      if (entries.length === 0) return;
      await tx.query(
        `update delivery_queue q set due_at = t.due_at, lease_until = null, lease_token = null
           from unnest($1::text[], $2::timestamptz[]) as t(id, due_at)
          where q.delivery_id = t.id`,
        [entries.map((e) => e.deliveryId), entries.map((e) => e.dueAt)],
      );
    },

    async remove(tx, deliveryIds) {
      if (deliveryIds.length === 0) return;
      await tx.query("delete from delivery_queue where delivery_id = any($1::text[])", [[...deliveryIds]]);
    },

    async release(entries, dueAt) {
      if (entries.length === 0) return 0;
      const r = await db.withGlobal((tx) =>
        tx.query(
          `update delivery_queue q set lease_until = null, lease_token = null, due_at = $1
             from unnest($2::text[], $3::text[]) as t(id, token)
            where q.delivery_id = t.id and q.lease_token = t.token`,
          [dueAt, entries.map((e) => e.deliveryId), entries.map((e) => e.leaseToken)],
        ),
      );
      return r.rowCount ?? 0;
    },
  };
}
