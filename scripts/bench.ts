/**
 * `npm run bench`: zenmesh's benchmarks and resilience suite, on loopback.
 * Builds every scenario, measures the bare node:http + HMAC ceiling in the
 * same run with the same generator and connections, writes
 * bench/results/<YYYY-MM-DD>.json and prints a markdown table.
 *
 *   npm run bench                      full run (≈ 10 min)
 *   npm run bench -- --quick           short durations (smoke run, ≈ 2 min)
 *   npm run bench -- --only ingest,e2e scenarios by name (see below)
 *   npm run bench -- --soak            adds the soak (10 min at half the max rate)
 *   npm run bench -- --cpu-prof        CPU profiles of every role in bench/results/profiles
 *   npm run bench -- --strict          exit 1 when a target is missed
 *
 * See bench/README.md for what each figure means.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, relative } from "node:path";
import { createCeiling } from "../bench/lib/ceiling.ts";
import { installSignalHandlers, runCleanups, stopping } from "../bench/lib/cleanup.ts";
import { CONNECTIONS, type Context, FULL, QUICK } from "../bench/lib/context.ts";
import { type ProfileSummary, summarizeProfiles } from "../bench/lib/profile.ts";
import { markdown, ratios, type Scenarios, targets } from "../bench/lib/report.ts";
import { KiB } from "../bench/lib/webhooks.ts";
import { ROOT } from "../bench/lib/zenmesh.ts";
import { endToEnd, fanout } from "../bench/scenarios/e2e.ts";
import { footprint, soak } from "../bench/scenarios/footprint.ts";
import { ingestEmbedded, ingestPostgres } from "../bench/scenarios/ingest.ts";
import { production } from "../bench/scenarios/production.ts";
import { payload, tenants } from "../bench/scenarios/scaling.ts";

const SCENARIOS = {
  ingest: ingestEmbedded,
  postgres: ingestPostgres,
  e2e: endToEnd,
  fanout,
  payload,
  tenants,
  footprint,
  soak,
  production,
} as const;
type Name = keyof typeof SCENARIOS;
const DEFAULT: Name[] = [
  "ingest",
  "postgres",
  "e2e",
  "fanout",
  "payload",
  "tenants",
  "footprint",
  "production",
];

function parseArgs(argv: string[]) {
  const flags = {
    quick: false,
    soak: false,
    cpuProf: false,
    strict: false,
    only: undefined as Name[] | undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") flags.quick = true;
    else if (a === "--soak") flags.soak = true;
    else if (a === "--cpu-prof") flags.cpuProf = true;
    else if (a === "--strict") flags.strict = true;
    else if (a === "--only" || a.startsWith("--only=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      const names = (v ?? "")
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean);
      const bad = names.filter((n) => !(n in SCENARIOS));
      if (names.length === 0 || bad.length > 0) {
        throw new Error(
          `--only takes a list of: ${Object.keys(SCENARIOS).join(", ")}${bad.length ? ` (not ${bad.join(", ")})` : ""}`,
        );
      }
      flags.only = names as Name[];
    } else if (a === "--help" || a === "-h") {
      console.log(
        `usage: npm run bench -- [--quick] [--only ${Object.keys(SCENARIOS).join(",")}] [--soak] [--cpu-prof] [--strict]`,
      );
      process.exit(0);
    } else throw new Error(`unknown flag ${a} (try --help)`);
  }
  return flags;
}

/** Which product was measured: the commit, and the files changed on top of it. */
function product() {
  const git = (...args: string[]) =>
    spawnSync("git", args, { cwd: ROOT, encoding: "utf8", timeout: 10_000 }).stdout?.trim() ?? "";
  const changed = git("status", "--porcelain", "--", "src", "bin", "package.json")
    .split("\n")
    .filter(Boolean)
    .map((l) => l.slice(3));
  return { commit: git("rev-parse", "--short", "HEAD") || "unknown", changed_files: changed };
}

function machine() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpu_model: cpus[0]?.model ?? "unknown",
    memory_mib: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

async function main(): Promise<number> {
  const flags = parseArgs(process.argv.slice(2));
  installSignalHandlers();
  const d = flags.quick ? QUICK : FULL;
  const selected: Name[] = flags.only ?? [...DEFAULT, ...(flags.soak ? (["soak"] as Name[]) : [])];
  const started = new Date();
  const t0 = performance.now();
  const resultsDir = join(ROOT, "bench", "results");
  const profileDir = join(resultsDir, "profiles");
  mkdirSync(resultsDir, { recursive: true });
  if (flags.cpuProf) mkdirSync(profileDir, { recursive: true });
  const log = (line: string) => {
    const s = ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
    process.stderr.write(`[${s} s] ${line}\n`);
  };
  const owners = new Map<number, { scenario: string; role: string }>();
  const ceiling = createCeiling(d, log);
  const ctx: Context = {
    d,
    quick: flags.quick,
    ceiling,
    zenmeshOptions: flags.cpuProf ? { nodeOptions: `--cpu-prof --cpu-prof-dir=${profileDir}` } : {},
    notePids(scenario, pids) {
      for (const [role, pid] of Object.entries(pids)) if (pid) owners.set(pid, { scenario, role });
    },
    log,
  };
  const m = machine();
  log(
    `zenmesh bench (${flags.quick ? "quick" : "full"}): ${selected.join(", ")}; ${m.nproc} CPUs, ` +
      `${m.memory_mib} MiB, Node ${m.node}, load ${m.loadavg_at_start.join(" ")}`,
  );
  const scenarios: Scenarios = {};
  const failed: Record<string, string> = {};
  const skipped: Record<string, string> = {};
  const timings: Record<string, number> = {};
  try {
    for (const name of selected) {
      const s0 = performance.now();
      log(`— ${name}`);
      try {
        Object.assign(scenarios, { [name]: await SCENARIOS[name](ctx) });
      } catch (err) {
        if ((err as Error).name === "Skip") {
          skipped[name] = (err as Error).message;
          log(`${name} SKIPPED: ${(err as Error).message}`);
        } else {
          failed[name] = (err as Error).stack ?? String(err);
          log(`${name} FAILED: ${(err as Error).message.split("\n")[0]}`);
        }
      }
      timings[name] = Math.round((performance.now() - s0) / 1000);
    }
    if (stopping()) {
      log("stopped by a signal: no results written");
      return 130;
    }
    const drift = await ceiling.recheck();
    const baseline = await ceiling.results();
    const start1k = baseline["1KiB_max"];
    // The 1 KiB ceiling is the mean of the measurement before the zenmesh figures and the one after.
    const ceilingRps = start1k ? (drift ? (start1k.rps + drift.rps) / 2 : start1k.rps) : undefined;
    // The payload scenario's 1 KiB figure is read against the same 1 KiB ceiling as every other one.
    const p1 = scenarios.payload?.sizes["1KiB"];
    if (p1 && ceilingRps) p1.ratio = Math.round((p1.zenmesh.rps / ceilingRps) * 10_000) / 10_000;
    const rt = ratios(scenarios, ceilingRps);
    const tg = targets(scenarios, rt);
    let profiles: ProfileSummary[] = [];
    if (flags.cpuProf) profiles = summarizeProfiles(profileDir, owners);
    const finished = new Date();
    const bySize: Record<string, (typeof baseline)[string]> = {};
    for (const size of [KiB, 16 * KiB, 256 * KiB]) {
      const r = baseline[`${size / KiB}KiB_max`];
      if (r) bySize[`${size / KiB}KiB`] = r;
    }
    const table = markdown(
      scenarios,
      {
        ...(start1k ? { max1k: start1k } : {}),
        ...(baseline["1KiB_half"] ? { half1k: baseline["1KiB_half"] } : {}),
        ...(ceilingRps ? { rps: ceilingRps } : {}),
        bySize,
      },
      rt,
      tg,
      Object.fromEntries(Object.entries(failed).map(([k, v]) => [k, v.split("\n")[0]!])),
      skipped,
    );
    const label = flags.only
      ? `only-${selected.join("-")}`
      : flags.quick
        ? "quick"
        : flags.soak
          ? "soak"
          : "";
    const date = started.toISOString().slice(0, 10);
    const file = join(
      resultsDir,
      `${date}${label ? `-${flags.quick && flags.only ? "quick-" : ""}${label}` : ""}.json`,
    );
    const result = {
      date,
      started_at: started.toISOString(),
      finished_at: finished.toISOString(),
      duration_s: Math.round((performance.now() - t0) / 1000),
      mode: flags.quick ? "quick" : "full",
      scenarios_run: selected,
      scenario_seconds: timings,
      product: product(),
      machine: { ...m, loadavg_at_end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      settings: {
        generator: "undici Pool, keep-alive, pipelining 1 (bench/lib/load.ts)",
        connections: CONNECTIONS,
        durations_ms: d,
        cpu_prof: flags.cpuProf,
      },
      baseline,
      ceiling_1kib_rps_for_ratios: ceilingRps ?? null,
      ceiling_drift: start1k && drift ? Math.round((drift.rps / start1k.rps - 1) * 1000) / 1000 : null,
      scenarios,
      failed,
      skipped,
      ratios: rt,
      targets: tg,
      ...(flags.cpuProf ? { profiles } : {}),
      table,
    };
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    const notes = [
      `Generator: undici, ${CONNECTIONS} keep-alive connections, the same for the ceiling and zenmesh; every request a fresh body, delivery id and signature. ` +
        "Max = closed loop; half = open loop at half that system's own max, latency from each request's due time.",
      `Machine: ${m.nproc} × ${m.cpu_model}, ${m.memory_mib} MiB, Node ${m.node}; load average ${m.loadavg_at_start.join(" ")} at start, ` +
        `${result.machine.loadavg_at_end.join(" ")} at end. Ceiling 1 KiB: ${start1k?.rps ?? "—"} req/s before, ${drift?.rps ?? "—"} after (ratios use the mean).`,
      "¹ PostgreSQL on 127.0.0.1 as user postgres with trust auth and no TLS (dev profile); every internal hop is still mTLS. The production profile's figures are the production scenario's (²).",
      "² Every role under `zenmesh serve` (production profile), joined with tokens; PostgreSQL 18 over verify-full TLS with SCRAM as the runtime role, Redis over TLS, the ingester on HTTPS; one destination at a receiver process that verifies every delivery.",
    ];
    for (const [name, r] of Object.entries(scenarios) as [
      string,
      { role_exits?: string[]; warnings?: { count: number; samples: string[] } },
    ][]) {
      if (r.role_exits?.length) notes.push(`${name}: role exits: ${r.role_exits.join("; ")}`);
      if (r.warnings?.count)
        notes.push(
          `${name}: ${r.warnings.count} warn/error log lines, e.g. ${r.warnings.samples.slice(0, 3).join(" | ")}`,
        );
    }
    const out = [
      `## zenmesh bench, ${date} (${result.mode}, ${result.duration_s} s, commit ${result.product.commit}` +
        `${result.product.changed_files.length ? ` + ${result.product.changed_files.length} changed files` : ""})`,
      "",
      table,
      "",
      ...notes.map((n) => `- ${n}`),
    ];
    if (profiles.length > 0) {
      out.push("", "### CPU profiles under load: where each role spent its time (self time, top 5)", "");
      for (const p of profiles) {
        if (!p.under_load || p.busy_ms < 200) continue;
        out.push(
          `- ${p.scenario} / ${p.role} (busy ${p.busy_ms} ms): ${p.top_modules
            .slice(0, 5)
            .map((x) => `${x.what} ${x.pct} %`)
            .join(", ")}`,
        );
        out.push(
          `  - ${p.top_functions
            .slice(0, 5)
            .map((x) => `${x.what} ${x.pct} %`)
            .join("; ")}`,
        );
      }
    }
    out.push("", `Results: ${relative(ROOT, file)}`);
    console.log(out.join("\n"));
    const missed = tg.filter((t) => t.pass === false).length;
    if (Object.keys(failed).length > 0) {
      for (const [name, why] of Object.entries(failed)) console.error(`\n${name} failed:\n${why}`);
      return 1;
    }
    return flags.strict && missed > 0 ? 1 : 0;
  } finally {
    await ceiling.stop().catch(() => {});
    await runCleanups();
  }
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    await runCleanups();
    process.exit(1);
  },
);
