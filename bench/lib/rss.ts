/** Resident memory of zenmesh's processes, from /proc/<pid>/status (VmRSS), in MiB. */
import { readdirSync, readFileSync } from "node:fs";
import { ROLES, type Role, type Zenmesh } from "./zenmesh.ts";

export type RoleMib = Record<Role, number> & { total: number };

export function rssMib(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** A process and all its descendants (the database server is a postmaster and its backends). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${task}/children`, "utf8").trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** A role's processes: the database is its whole process tree, every other role one process. */
function pidsOf(role: Role, pid: number | undefined): number[] {
  if (pid === undefined || pid === 0) return [];
  return role === "database" ? processTree(pid) : [pid];
}

export function sampleRoles(z: Zenmesh): RoleMib {
  const pids = z.pids();
  const out = { total: 0 } as RoleMib;
  for (const role of ROLES) {
    const of = pidsOf(role, pids[role]);
    // A role that is not there (no embedded database) counts 0, not NaN.
    const v = of.reduce((sum, pid) => sum + (Number.isFinite(rssMib(pid)) ? rssMib(pid) : 0), 0);
    out[role] = r1(v);
    out.total += v;
  }
  out.total = r1(out.total);
  return out;
}

export interface RssSample {
  t_s: number;
  mib: RoleMib;
  /** Whatever else the caller samples with it (e.g. answers so far). */
  extra?: Record<string, number>;
}

export interface RssSampler {
  stop(): { samples: RssSample[]; peak: RoleMib };
}

/** Samples every role every `everyMs` until stopped; the peak of each role and of the total. */
export function sampleRss(z: Zenmesh, everyMs: number, extra?: () => Record<string, number>): RssSampler {
  const t0 = performance.now();
  const samples: RssSample[] = [];
  const take = () =>
    samples.push({
      t_s: r1((performance.now() - t0) / 1000),
      mib: sampleRoles(z),
      ...(extra ? { extra: extra() } : {}),
    });
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const peak = { total: 0 } as RoleMib;
      for (const s of samples) {
        for (const role of ROLES) peak[role] = Math.max(peak[role] ?? 0, s.mib[role] || 0);
        peak.total = Math.max(peak.total, s.mib.total);
      }
      return { samples, peak };
    },
  };
}

/** The median of a few samples a second apart: idle memory without one sample's luck. */
export async function idleRss(z: Zenmesh, n = 5, everyMs = 1000): Promise<RoleMib> {
  const taken: RoleMib[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, everyMs));
    taken.push(sampleRoles(z));
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const out = {} as RoleMib;
  for (const k of [...ROLES, "total"] as const) out[k] = med(taken.map((t) => t[k]));
  return out;
}

/**
 * VmRSS split into its anonymous (heaps, WASM memory) and file-backed (code,
 * mapped files) parts, and PSS: RSS with each shared page divided among the
 * processes that map it (the Node binary's pages are shared by all five).
 */
export function rssDetail(z: Zenmesh): Record<Role, { anon: number; file: number; pss: number }> {
  const pids = z.pids();
  const out = {} as Record<Role, { anon: number; file: number; pss: number }>;
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  for (const role of ROLES) {
    const kb = (text: string, name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(text)?.[1] ?? 0);
    const sum = { anon: 0, file: 0, pss: 0 };
    for (const pid of pidsOf(role, pids[role])) {
      const status = read(`/proc/${pid}/status`);
      const rollup = read(`/proc/${pid}/smaps_rollup`);
      sum.anon += kb(status, "RssAnon");
      sum.file += kb(status, "RssFile");
      sum.pss += kb(rollup, "Pss");
    }
    out[role] = { anon: r1(sum.anon / 1024), file: r1(sum.file / 1024), pss: r1(sum.pss / 1024) };
  }
  return out;
}
