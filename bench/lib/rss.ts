/** Resident memory of zenmesh's processes, from /proc/<pid>/status (VmRSS), in MiB. */
import { readFileSync } from "node:fs";
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

export function sampleRoles(z: Zenmesh): RoleMib {
  const pids = z.pids();
  const out = { total: 0 } as RoleMib;
  for (const role of ROLES) {
    const v = rssMib(pids[role]);
    out[role] = r1(v);
    if (Number.isFinite(v)) out.total += v;
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
    const status = read(`/proc/${pids[role]}/status`);
    const rollup = read(`/proc/${pids[role]}/smaps_rollup`);
    const kb = (text: string, name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(text)?.[1] ?? Number.NaN);
    out[role] = {
      anon: r1(kb(status, "RssAnon") / 1024),
      file: r1(kb(status, "RssFile") / 1024),
      pss: r1(kb(rollup, "Pss") / 1024),
    };
  }
  return out;
}
