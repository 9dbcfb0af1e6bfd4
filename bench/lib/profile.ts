/**
 * Reads the V8 CPU profiles that `--cpu-prof` left (one per process, written
 * when it exits) and says where each role spent its time: the functions
 * with the most self time, and the same summed per file or package.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { loadWindows } from "./load.ts";
import { ROOT } from "./zenmesh.ts";

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  scenario: string;
  role: string;
  pid: number;
  /** Only the samples taken while the generator ran (start-up and idle left out). */
  under_load: boolean;
  busy_ms: number;
  idle_ms: number;
  top_functions: { what: string; self_ms: number; pct: number }[];
  top_modules: { what: string; self_ms: number; pct: number }[];
}

function moduleOf(url: string): string {
  if (url === "") return "(native / V8)";
  if (url.startsWith("node:")) return url;
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const parts = path.slice(nm + "node_modules/".length).split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return relative(ROOT, path);
}

function inLoad(us: number): boolean {
  return loadWindows.some((w) => us >= w.startUs && us <= w.endUs);
}

export function summarizeProfile(
  file: string,
  scenario: string,
  role: string,
  pid: number,
  underLoad: boolean,
): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = p.startTime;
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0;
    at += d;
    if (!underLoad || inLoad(at)) selfUs.set(id, (selfUs.get(id) ?? 0) + d);
  });
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    if (cf.functionName === "(idle)") {
      idle += us;
      continue;
    }
    busy += us;
    const where = cf.url ? `${moduleOf(cf.url)}:${cf.lineNumber + 1}` : "";
    const key = `${cf.functionName || "(anonymous)"}${where ? ` ${where}` : ""}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const m = cf.url ? moduleOf(cf.url) : cf.functionName;
    mod.set(m, (mod.get(m) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([what, us]) => ({
        what,
        self_ms: Math.round(us / 1000),
        pct: busy === 0 ? 0 : Math.round((us / busy) * 1000) / 10,
      }));
  return {
    file,
    scenario,
    role,
    pid,
    under_load: underLoad,
    busy_ms: Math.round(busy / 1000),
    idle_ms: Math.round(idle / 1000),
    top_functions: top(fn, 12),
    top_modules: top(mod, 8),
  };
}

/**
 * Every profile in `dir` written by a process the bench noted (pid → scenario
 * and role): the whole life of each process, and only its loaded part.
 */
export function summarizeProfiles(
  dir: string,
  owners: Map<number, { scenario: string; role: string }>,
): ProfileSummary[] {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  } catch {
    return [];
  }
  const out: ProfileSummary[] = [];
  for (const f of files) {
    const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(f)?.[1]);
    const owner = owners.get(pid);
    if (!owner) continue;
    try {
      out.push(summarizeProfile(join(dir, f), owner.scenario, owner.role, pid, true));
      out.push(summarizeProfile(join(dir, f), owner.scenario, owner.role, pid, false));
    } catch {}
  }
  return out.sort(
    (a, b) =>
      a.scenario.localeCompare(b.scenario) ||
      Number(b.under_load) - Number(a.under_load) ||
      b.busy_ms - a.busy_ms,
  );
}
