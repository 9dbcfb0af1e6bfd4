/**
 * Ratios, the issue's targets with pass/fail, and the markdown table, from
 * one run's results. Every ratio divides a zenmesh figure by the ceiling
 * measured in the same run (same generator, same connections, same size).
 */
import type { E2eResult, FanoutResult } from "../scenarios/e2e.ts";
import type { FootprintResult, SoakResult } from "../scenarios/footprint.ts";
import type { IngestResult } from "../scenarios/ingest.ts";
import type { ProductionResult } from "../scenarios/production.ts";
import type { PayloadResult, TenantsResult } from "../scenarios/scaling.ts";
import { CONNECTIONS } from "./context.ts";
import type { LoadResult } from "./load.ts";

const CAP = CONNECTIONS * 64;

export interface Scenarios {
  ingest?: IngestResult;
  postgres?: IngestResult;
  e2e?: E2eResult;
  payload?: PayloadResult;
  tenants?: TenantsResult;
  fanout?: FanoutResult;
  footprint?: FootprintResult;
  soak?: SoakResult;
  production?: ProductionResult;
}

export interface Target {
  name: string;
  target: string;
  value: number | null;
  unit: string;
  pass: boolean | null;
}

const pct = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "—" : `${(x * 100).toFixed(1)} %`;
const num = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "—" : Math.round(x).toLocaleString("en-US");
const ms = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x)
    ? "—"
    : x < 10
      ? x.toFixed(2)
      : x < 100
        ? x.toFixed(1)
        : Math.round(x).toString();
const lat3 = (r: LoadResult | undefined) =>
  r ? `${ms(r.latency_ms.p50)} / ${ms(r.latency_ms.p99)} / ${ms(r.latency_ms.p999)} ms` : "—";
const errs = (r: LoadResult) =>
  `${r.non_2xx} non-2xx, ${r.socket_errors} socket${r.dropped ? `, ${r.dropped} not sent (over ${CAP} waiting)` : ""}${r.abandoned ? `, ${r.abandoned} cut off at the end` : ""}`;
const verdict = (p: boolean | null) => (p === null ? "—" : p ? "PASS" : "FAIL");
const mib = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "—" : `${Math.round(x)}`);

export function ratios(s: Scenarios, ceiling: number | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  const r = (name: string, v: number | undefined) => {
    if (v !== undefined && ceiling) out[name] = Math.round((v / ceiling) * 10_000) / 10_000;
  };
  r("ingest_embedded_to_ceiling", s.ingest?.max.rps);
  r("ingest_postgres_to_ceiling", s.postgres?.max.rps);
  r("e2e_events_to_ceiling", s.e2e?.max.events_per_s);
  r("production_events_to_ceiling", s.production?.max.events_per_s);
  r("tenants_one_to_ceiling", s.tenants?.one.rps);
  r("tenants_many_to_ceiling", s.tenants?.many.rps);
  for (const [size, v] of Object.entries(s.payload?.sizes ?? {}))
    out[`payload_${size}_to_same_size_ceiling`] = v.ratio;
  if (s.tenants)
    out.tenants_many_to_one = Math.round((s.tenants.many.rps / s.tenants.one.rps) * 10_000) / 10_000;
  if (s.fanout && s.e2e) {
    out.fanout_100_to_1_deliveries =
      Math.round((s.fanout.phase.deliveries_per_s / s.e2e.max.deliveries_per_s) * 10_000) / 10_000;
  }
  return out;
}

export function targets(s: Scenarios, rt: Record<string, number>): Target[] {
  const t = (
    name: string,
    target: string,
    value: number | undefined,
    unit: string,
    ok: (v: number) => boolean,
  ) => ({
    name,
    target,
    value: value === undefined ? null : value,
    unit,
    pass: value === undefined ? null : ok(value),
  });
  return [
    t(
      "ingest (embedded) ≥ 50 % of the ceiling",
      "≥ 0.5",
      rt.ingest_embedded_to_ceiling,
      "ratio",
      (v) => v >= 0.5,
    ),
    t(
      "ingest (PostgreSQL) ≥ 50 % of the ceiling",
      "≥ 0.5",
      rt.ingest_postgres_to_ceiling,
      "ratio",
      (v) => v >= 0.5,
    ),
    t("end to end ≥ 25 % of the ceiling", "≥ 0.25", rt.e2e_events_to_ceiling, "ratio", (v) => v >= 0.25),
    t(
      "ingest (embedded) p99 ≤ 50 ms at half the max rate",
      "≤ 50",
      s.ingest?.half.latency_ms.p99,
      "ms",
      (v) => v <= 50,
    ),
    t(
      "ingest (PostgreSQL) p99 ≤ 50 ms at half the max rate",
      "≤ 50",
      s.postgres?.half.latency_ms.p99,
      "ms",
      (v) => v <= 50,
    ),
    t("zenmesh up idle < 500 MiB in total", "< 500", s.footprint?.idle_mib.total, "MiB", (v) => v < 500),
  ];
}

type Row = [string, string, string, string, string, string, string];

export function markdown(
  s: Scenarios,
  ceiling: { max1k?: LoadResult; half1k?: LoadResult; rps?: number; bySize: Record<string, LoadResult> },
  rt: Record<string, number>,
  tg: Target[],
  failed: Record<string, string>,
  skipped: Record<string, string> = {},
): string {
  const rows: Row[] = [];
  const tgt = (name: string) => tg.find((x) => x.name.startsWith(name));
  const row = (...r: Row) => rows.push(r);
  if (ceiling.max1k) {
    row("Ceiling: bare node:http + HMAC, 1 KiB", "max req/s", "", num(ceiling.rps), "", "", "");
    row("", "latency at max p50 / p99 / p99.9", "", lat3(ceiling.max1k), "", "", "");
    if (ceiling.half1k)
      row(
        "",
        `p50 / p99 / p99.9 at half max (${num(ceiling.half1k.target_rate)} req/s)`,
        "",
        lat3(ceiling.half1k),
        "",
        "",
        "",
      );
  }
  const ingestRows = (label: string, r: IngestResult | undefined, ratio: number | undefined, key: string) => {
    if (!r) return;
    const tr = tgt(`ingest (${key}) ≥`);
    const tl = tgt(`ingest (${key}) p99`);
    row(
      label,
      "max req/s (202 = stored)",
      num(r.max.rps),
      num(ceiling.rps),
      pct(ratio),
      "≥ 50 %",
      verdict(tr?.pass ?? null),
    );
    row("", "latency at max p50 / p99 / p99.9", lat3(r.max), lat3(ceiling.max1k), "", "", "");
    row("", "errors at max", errs(r.max), "", "", "", "");
    row(
      "",
      `p50 / p99 / p99.9 at half max (${num(r.half.target_rate)} req/s)`,
      lat3(r.half),
      lat3(ceiling.half1k),
      "",
      "p99 ≤ 50 ms",
      verdict(tl?.pass ?? null),
    );
    row("", "errors at half max", errs(r.half), "", "", "", "");
  };
  ingestRows(
    "Ingest, embedded PostgreSQL server, 1 KiB",
    s.ingest,
    rt.ingest_embedded_to_ceiling,
    "embedded",
  );
  ingestRows(
    "Ingest, PostgreSQL + Redis (dev profile¹), 1 KiB",
    s.postgres,
    rt.ingest_postgres_to_ceiling,
    "PostgreSQL",
  );
  if (s.e2e) {
    const e = s.e2e;
    row(
      "End to end, 1 destination, 1 KiB",
      "delivered events/s",
      num(e.max.events_per_s),
      num(ceiling.rps),
      pct(rt.e2e_events_to_ceiling),
      "≥ 25 %",
      verdict(tgt("end to end")?.pass ?? null),
    );
    row(
      "",
      "send→arrival p50 / p99 (at max)",
      `${ms(e.max.send_to_arrival_ms.p50)} / ${ms(e.max.send_to_arrival_ms.p99)} ms`,
      "",
      "",
      "",
      "",
    );
    row(
      "",
      `send→arrival p50 / p99 at half (${num(e.half.ingest.target_rate)} ev/s)`,
      `${ms(e.half.send_to_arrival_ms.p50)} / ${ms(e.half.send_to_arrival_ms.p99)} ms`,
      "",
      "",
      "",
      "",
    );
    row(
      "",
      "acknowledged / delivered / missing",
      `${num(e.max.acknowledged + e.half.acknowledged)} / ${num(e.max.delivered + e.half.delivered)} / ${num(e.max.missing + e.half.missing)}`,
      "",
      "",
      "",
      "",
    );
    row("", "verification failures / duplicates", `${e.verify_failures} / ${e.duplicates}`, "", "", "", "");
    row("", "ingest errors while delivering", errs(e.max.ingest), "", "", "", "");
  }
  if (s.production) {
    const p = s.production;
    const both = (f: (x: typeof p.max) => number) => num(f(p.max) + f(p.half));
    row(
      "End to end, production profile², 1 KiB",
      "delivered events/s",
      num(p.max.events_per_s),
      num(ceiling.rps),
      pct(rt.production_events_to_ceiling),
      "",
      "",
    );
    row("", "ingest max req/s (HTTPS, 202 = stored)", num(p.max.ingest.rps), num(ceiling.rps), "", "", "");
    row(
      "",
      "send→arrival p50 / p99 (at max)",
      `${ms(p.max.send_to_arrival_ms.p50)} / ${ms(p.max.send_to_arrival_ms.p99)} ms`,
      "",
      "",
      "",
      "",
    );
    row(
      "",
      `send→arrival p50 / p99 at half (${num(p.half.ingest.target_rate)} ev/s)`,
      `${ms(p.half.send_to_arrival_ms.p50)} / ${ms(p.half.send_to_arrival_ms.p99)} ms`,
      "",
      "",
      "",
      "",
    );
    row(
      "",
      "acknowledged / delivered / missing",
      `${both((x) => x.acknowledged)} / ${both((x) => x.delivered)} / ${both((x) => x.missing)}`,
      "",
      "",
      "",
      "",
    );
    row("", "verification failures / duplicates", `${p.verify_failures} / ${p.duplicates}`, "", "", "", "");
    row("", "ingest errors while delivering", errs(p.max.ingest), "", "", "", "");
    row("", "start: data stores, migrate, ca init, every role joined", `${p.start_s} s`, "", "", "", "");
  }
  if (s.payload) {
    for (const [size, v] of Object.entries(s.payload.sizes)) {
      row(
        size === "1KiB" ? "Payload size" : "",
        `${size.replace("KiB", " KiB")}: max req/s (p99)`,
        `${num(v.zenmesh.rps)} (${ms(v.zenmesh.latency_ms.p99)} ms)`,
        `${num(v.ceiling.rps)} (${ms(v.ceiling.latency_ms.p99)} ms)`,
        pct(v.ratio),
        "",
        "",
      );
      if (v.zenmesh.non_2xx + v.zenmesh.socket_errors > 0)
        row("", `${size.replace("KiB", " KiB")}: errors`, errs(v.zenmesh), "", "", "", "");
    }
  }
  if (s.tenants) {
    const t = s.tenants;
    row(
      "Tenants (1 KiB)",
      "1 tenant: max req/s (p99)",
      `${num(t.one.rps)} (${ms(t.one.latency_ms.p99)} ms)`,
      num(ceiling.rps),
      pct(rt.tenants_one_to_ceiling),
      "",
      "",
    );
    row(
      "",
      `${num(t.tenants)} tenants, load spread: max req/s (p99)`,
      `${num(t.many.rps)} (${ms(t.many.latency_ms.p99)} ms)`,
      num(ceiling.rps),
      pct(rt.tenants_many_to_ceiling),
      "",
      "",
    );
    row("", `${num(t.tenants)} vs 1 tenant`, pct(rt.tenants_many_to_one), "", "", "", "");
    row(
      "",
      "creating the tenants / their sources",
      `${t.create_tenants_s} s / ${t.create_sources_s} s`,
      "",
      "",
      "",
      "",
    );
    if (t.many.non_2xx + t.many.socket_errors > 0)
      row("", "errors (many tenants)", errs(t.many), "", "", "", "");
  }
  if (s.fanout || s.e2e) {
    if (s.e2e) row("Fan-out", "1 destination: deliveries/s", num(s.e2e.max.deliveries_per_s), "", "", "", "");
    if (s.fanout) {
      const f = s.fanout.phase;
      const vs =
        rt.fanout_100_to_1_deliveries === undefined
          ? ""
          : `; ×${rt.fanout_100_to_1_deliveries.toFixed(1)} the 1-destination rate`;
      row(
        s.e2e ? "" : "Fan-out",
        `100 destinations: deliveries/s (${num(f.acknowledged)} events${vs})`,
        num(f.deliveries_per_s),
        "",
        "",
        "",
        "",
      );
      row(
        "",
        "100 destinations: send→arrival p50 / p99",
        `${ms(f.send_to_arrival_ms.p50)} / ${ms(f.send_to_arrival_ms.p99)} ms`,
        "",
        "",
        "",
        "",
      );
      row(
        "",
        "100 destinations: delivered / expected, failures",
        `${num(f.delivered)} / ${num(f.deliveries_expected)}, ${s.fanout.verify_failures} verify failures`,
        "",
        "",
        "",
        "",
      );
    }
  }
  if (s.footprint) {
    const f = s.footprint;
    const roles = (m: FootprintResult["idle_mib"]) =>
      `sup ${mib(m.supervisor)} · database ${mib(m.database)} · backend ${mib(m.backend)} · ingester ${mib(m.ingester)} · egress ${mib(m.egress)} · bff ${mib(m.bff)}`;
    row(
      "Footprint (RSS, MiB)",
      "idle, per process (database: the server and its processes)",
      roles(f.idle_mib),
      "",
      "",
      "",
      "",
    );
    row(
      "",
      "idle, total",
      mib(f.idle_mib.total),
      "",
      "",
      "< 500 MiB",
      verdict(tgt("zenmesh up idle")?.pass ?? null),
    );
    row(
      "",
      "idle, total PSS (shared pages split; not the target's measure)",
      mib(f.idle_pss_total_mib),
      "",
      "",
      "",
      "",
    );
    row(
      "",
      `under load (${num(f.load.rps)} req/s), peak per process`,
      roles(f.under_load_peak_mib),
      "",
      "",
      "",
      "",
    );
    row("", "under load, peak total", mib(f.under_load_peak_mib.total), "", "", "", "");
    row(
      "Start-up",
      "`zenmesh up` on an existing data dir, spawn → ready",
      `${num(f.start_ms)} ms (reports ${num(f.start_reported_ms)} ms)`,
      "",
      "",
      "",
      "",
    );
    row(
      "",
      "first start (new data dir) / stop on SIGINT",
      `${num(f.first_start_ms)} ms / ${num(f.stop_ms)} ms`,
      "",
      "",
      "",
      "",
    );
  }
  if (s.soak) {
    const k = s.soak;
    const slopes = (sl: Record<string, number>) =>
      `sup ${sl.supervisor} · database ${sl.database} · backend ${sl.backend} · ingester ${sl.ingester} · egress ${sl.egress} · bff ${sl.bff} · total ${sl.total}`;
    row(
      "Soak",
      `${Math.round(k.soak.duration_s / 60)} min at ${num(k.soak.target_rate)} req/s: errors`,
      `${k.errors} (${errs(k.soak)})`,
      "",
      "",
      "0",
      k.errors === 0 ? "PASS" : "FAIL",
    );
    row("", "p50 / p99 / p99.9 during the soak", lat3(k.soak), "", "", "", "");
    row("", "2xx/s in each minute", k.ok_per_s_by_minute.join(" · "), "", "", "", "");
    row("", "RSS slope, MiB/min, whole soak", slopes(k.slope_mib_per_min), "", "", "", "");
    row("", "RSS slope, MiB/min, second half", slopes(k.slope_second_half_mib_per_min), "", "", "", "");
    const last = k.samples.at(-1)?.mib;
    if (last)
      row(
        "",
        "RSS at the end, MiB",
        `sup ${mib(last.supervisor)} · database ${mib(last.database)} · backend ${mib(last.backend)} · ingester ${mib(last.ingester)} · egress ${mib(last.egress)} · bff ${mib(last.bff)} · total ${mib(last.total)}`,
        "",
        "",
        "",
        "",
      );
  }
  for (const [name, why] of Object.entries(failed))
    row(name, "FAILED TO RUN", why.split("\n")[0]!.slice(0, 160), "", "", "", "");
  for (const [name, why] of Object.entries(skipped)) row(name, "SKIPPED", why.slice(0, 160), "", "", "", "");
  const head: Row = ["Scenario", "Figure", "zenmesh", "Ceiling (same run)", "Ratio", "Target", "Result"];
  const esc = (c: string) => c.replaceAll("|", "\\|");
  return [head, head.map(() => "---") as unknown as Row, ...rows]
    .map((r) => `| ${r.map(esc).join(" | ")} |`)
    .join("\n");
}
