/**
 * The egress role's delivery path: an internal (mTLS) route that takes
 * dispatch batches from the backend's scheduler and the ingester's fast path
 * only, the dispatcher with per-destination limits, the SSRF-guarded sender,
 * and the reporter back to the backend. Egress holds the one key that opens
 * destination secrets, and no database credentials.
 */
import type { Clock } from "../../core/index.ts";
import { ZenError } from "../../core/index.ts";
import type { Logger } from "../../log/index.ts";
import type { InternalClient, InternalRoute } from "../../mesh/index.ts";
import type { BoxKeyPair } from "../box.ts";
import { createSender } from "../http/sender.ts";
import type { Lookup } from "../ssrf/guard.ts";
import type { Cidr } from "../ssrf/ip.ts";
import type { ListenerAddress } from "../ssrf/system-listeners.ts";
import type { DispatchBatch } from "../types.ts";
import { createDispatcher, type Dispatcher } from "./dispatcher.ts";
import { createReporter } from "./reporter.ts";

export { createDispatcher, type Dispatcher, type Sender } from "./dispatcher.ts";
export { credentialsAad, renderRequest, secretAad } from "./render.ts";
export { createReporter, type Reporter } from "./reporter.ts";

export interface RunningEgress {
  routes: InternalRoute[];
  dispatcher: Dispatcher;
  close(): Promise<void>;
}

export const MAX_DISPATCH_JOBS = 5000;

function parseBatch(body: Buffer): DispatchBatch {
  let b: DispatchBatch;
  try {
    b = JSON.parse(body.toString("utf8")) as DispatchBatch;
  } catch (err) {
    throw new ZenError("MALFORMED_REQUEST", { cause: err });
  }
  if (
    typeof b !== "object" ||
    b === null ||
    !Array.isArray(b.jobs) ||
    b.jobs.length > MAX_DISPATCH_JOBS ||
    typeof b.events !== "object" ||
    typeof b.destinations !== "object"
  ) {
    throw new ZenError("VALIDATION_FAILED", { message: "not a dispatch batch" });
  }
  return b;
}

export function startEgress(opts: {
  backend: () => InternalClient;
  box: BoxKeyPair;
  allowCidrs: readonly Cidr[];
  trustDomain: string;
  logger: Logger;
  clock: Clock;
  userAgent: string;
  lookup?: Lookup;
  /** zenmesh's own listeners, as known now: refused whatever the allow-list says. */
  systemListeners: () => readonly ListenerAddress[];
  /** The most of egress's job slots one tenant may hold, in percent. */
  tenantSharePercent?: number;
}): RunningEgress {
  const sender = createSender({
    allowCidrs: opts.allowCidrs,
    systemListeners: opts.systemListeners,
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  });
  const reporter = createReporter({ backend: opts.backend, logger: opts.logger });
  const dispatcher = createDispatcher({
    sender,
    box: opts.box,
    report: (r) => reporter.report(r),
    clock: opts.clock,
    logger: opts.logger,
    userAgent: opts.userAgent,
    ...(opts.tenantSharePercent === undefined ? {} : { tenantSharePercent: opts.tenantSharePercent }),
  });
  const id = (p: string) => `spiffe://${opts.trustDomain}/${p}`;
  return {
    dispatcher,
    routes: [
      {
        method: "POST",
        path: "/internal/dispatch",
        allow: [id("backend"), id("ingester")],
        signed: "none",
        async handler(req) {
          const r = dispatcher.accept(parseBatch(req.body));
          return { status: 202, body: r };
        },
      },
    ],
    async close() {
      await dispatcher.close();
      await reporter.close();
      await sender.close();
    },
  };
}
