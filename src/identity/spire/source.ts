/**
 * An IdentitySource backed by SPIRE (or any server of the SPIFFE Workload
 * API, X.509-SVID profile): one long-lived FetchX509SVID stream over the
 * agent's unix socket, carrying the `workload.spiffe.io: true` header.
 *
 * Every response is a complete snapshot, so each one replaces the current
 * SVID when the selected identity's chain, key or bundle changed; listeners
 * then hot-swap TLS contexts. A stream that ends or fails is reopened with
 * capped, jittered exponential backoff while the last good SVID keeps
 * serving, because an agent restart must not take the workload down with it.
 * Key material is only ever handed to listeners, never to onError.
 */
import { Client, type ClientReadableStream, credentials, type StatusObject, status } from "@grpc/grpc-js";
import { type Clock, systemClock, ZenError } from "../../core/index.ts";
import { isValidTrustDomain } from "../spiffe-id.ts";
import type { IdentitySource, Svid } from "../types.ts";
import type { X509SvidResponse } from "./proto.ts";
import { fetchX509SvidMethod, workloadApiMetadata, workloadApiTarget } from "./service.ts";
import { type SvidSelector, selectSvid, spiffeIdTrustDomain } from "./svid.ts";

export interface SpireIdentitySourceOptions {
  /** The agent's Workload API socket: an absolute path or `unix:///path` (see SPIFFE_ENDPOINT_SOCKET). */
  socketPath: string;
  /** Which SVID to use when the workload is entitled to several; the first one otherwise. */
  spiffeId?: string;
  /** Refuse SVIDs of any other trust domain. */
  trustDomain?: string;
  /** How long to wait for the first usable SVID. Default 30 s: attestation can lag at pod start. */
  timeoutMs?: number;
  clock?: Clock;
  /** Stream failures, unusable responses and listener errors; the source keeps running. */
  onError?: (err: Error) => void;
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Jitter source in [0, 1); passed in so tests can fix it. */
  random?: () => number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_INITIAL_DELAY_MS = 500;
const DEFAULT_MAX_DELAY_MS = 30_000;

function configError(message: string): ZenError {
  return new ZenError("CONFIG_INVALID", { message });
}

function statusName(code: number): string {
  return status[code] ?? String(code);
}

function sameSvid(a: Svid, b: Svid): boolean {
  return (
    a.spiffeId === b.spiffeId &&
    a.certChainPem === b.certChainPem &&
    a.keyPem === b.keyPem &&
    a.bundlePem === b.bundlePem
  );
}

interface SourceSettings {
  selector: SvidSelector;
  clock: Clock;
  report: (err: Error) => void;
  initialDelayMs: number;
  maxDelayMs: number;
  random: () => number;
}

class SpireIdentitySource implements IdentitySource {
  private readonly client: Client;
  private readonly listeners = new Set<(svid: Svid) => void>();
  private call: ClientReadableStream<X509SvidResponse> | null = null;
  private svid: Svid | null = null;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private expiryReported = false;
  /** The latest reason no SVID is available, kept as the cause of a startup timeout. */
  lastProblem: Error | null = null;
  /** Settles the promise returned by createSpireIdentitySource. */
  onFirst: ((result: Error | null) => void) | null = null;

  private readonly selector: SvidSelector;
  private readonly clock: Clock;
  private readonly report: (err: Error) => void;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly random: () => number;

  constructor(target: string, settings: SourceSettings) {
    const { initialDelayMs, maxDelayMs } = settings;
    this.selector = settings.selector;
    this.clock = settings.clock;
    this.report = settings.report;
    this.initialDelayMs = initialDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.random = settings.random;
    this.client = new Client(target, credentials.createInsecure(), {
      // Reconnection is this class's job; the channel must not wait longer than our cap.
      "grpc.enable_retries": 0,
      "grpc.initial_reconnect_backoff_ms": initialDelayMs,
      "grpc.max_reconnect_backoff_ms": maxDelayMs,
    });
  }

  current(): Svid {
    if (this.svid === null)
      throw new ZenError("UNAVAILABLE", { message: "No SVID from the Workload API yet." });
    return this.svid;
  }

  onUpdate(listener: (svid: Svid) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const call = this.call;
    this.call = null;
    call?.cancel();
    this.client.close();
    this.listeners.clear();
  }

  connect(): void {
    if (this.closed) return;
    const m = fetchX509SvidMethod;
    const call = this.client.makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      {},
      workloadApiMetadata(),
    );
    this.call = call;
    call.on("data", (response: X509SvidResponse) => {
      if (call === this.call) this.receive(response);
    });
    // The status event carries the same failure and always follows; without a
    // listener an 'error' event would throw.
    call.on("error", () => {});
    call.on("status", (s: StatusObject) => {
      if (call === this.call) this.streamEnded(s);
    });
  }

  private receive(response: X509SvidResponse): void {
    const picked = selectSvid(response, this.selector, this.clock);
    if (!picked.ok) {
      // An unusable snapshot leaves the previous SVID in place; the agent may send a better one.
      const err = new ZenError("UNAVAILABLE", {
        message: `Workload API response not usable: ${picked.message}`,
        details: { reason: picked.reason },
      });
      this.lastProblem = err;
      this.report(err);
      return;
    }
    this.failures = 0;
    this.expiryReported = false;
    const previous = this.svid;
    if (previous !== null && sameSvid(previous, picked.svid)) return;
    this.svid = picked.svid;
    if (previous === null) {
      this.onFirst?.(null);
      return;
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(picked.svid);
      } catch (err) {
        this.report(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  private streamEnded(s: StatusObject): void {
    if (this.closed) return;
    const err = new ZenError("UNAVAILABLE", {
      message: `Workload API stream ended: ${statusName(s.code)}${s.details ? ` (${s.details})` : ""}`,
      details: { grpcStatus: statusName(s.code) },
    });
    this.lastProblem = err;
    this.report(err);
    // INVALID_ARGUMENT means the server refuses this client's calls outright;
    // failing startup at once beats retrying until the timeout.
    if (s.code === status.INVALID_ARGUMENT && this.svid === null) {
      this.onFirst?.(err);
      return;
    }
    this.checkExpiry();
    const base = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    // Jitter in [base/2, base) so many workloads on one node do not reconnect in step.
    const delay = Math.round(base / 2 + (base / 2) * this.random());
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    // An established workload is kept alive by its own servers, not by this retry.
    if (this.svid !== null) this.retryTimer.unref();
  }

  private checkExpiry(): void {
    const svid = this.svid;
    if (svid === null || this.expiryReported) return;
    if (this.clock.now().getTime() > svid.notAfter.getTime()) {
      this.expiryReported = true;
      this.report(
        new ZenError("UNAVAILABLE", {
          message: `SVID ${svid.spiffeId} expired at ${svid.notAfter.toISOString()} and the Workload API is unreachable`,
        }),
      );
    }
  }
}

/**
 * Opens the Workload API stream and resolves once the first usable SVID
 * arrives; rejects with UNAVAILABLE if none does within `timeoutMs`, and with
 * CONFIG_INVALID for a bad socket address or selector.
 */
export async function createSpireIdentitySource(opts: SpireIdentitySourceOptions): Promise<IdentitySource> {
  let target: string;
  try {
    target = workloadApiTarget(opts.socketPath);
  } catch (err) {
    throw configError((err as Error).message);
  }
  if (opts.spiffeId !== undefined && spiffeIdTrustDomain(opts.spiffeId) === null) {
    throw configError(`spiffeId is not a valid SPIFFE ID: ${opts.spiffeId}`);
  }
  if (opts.trustDomain !== undefined && !isValidTrustDomain(opts.trustDomain)) {
    throw configError(`trustDomain is not a valid trust domain name: ${opts.trustDomain}`);
  }
  if (
    opts.spiffeId !== undefined &&
    opts.trustDomain !== undefined &&
    spiffeIdTrustDomain(opts.spiffeId) !== opts.trustDomain
  ) {
    throw configError(`spiffeId ${opts.spiffeId} is not in trust domain ${opts.trustDomain}`);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const initialDelayMs = opts.reconnect?.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
  const maxDelayMs = opts.reconnect?.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  for (const [name, v] of [
    ["timeoutMs", timeoutMs],
    ["reconnect.initialDelayMs", initialDelayMs],
    ["reconnect.maxDelayMs", maxDelayMs],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw configError(`${name} must be a positive number`);
  }

  const selector: SvidSelector = {};
  if (opts.spiffeId !== undefined) selector.spiffeId = opts.spiffeId;
  if (opts.trustDomain !== undefined) selector.trustDomain = opts.trustDomain;
  const onError = opts.onError ?? (() => {});
  const report = (err: Error): void => {
    try {
      onError(err);
    } catch {
      // A failing error handler must not break the stream handling that called it.
    }
  };

  const source = new SpireIdentitySource(target, {
    selector,
    clock: opts.clock ?? systemClock,
    report,
    initialDelayMs,
    maxDelayMs: Math.max(maxDelayMs, initialDelayMs),
    random: opts.random ?? Math.random,
  });

  return new Promise<IdentitySource>((resolve, reject) => {
    const timer = setTimeout(() => {
      settle(
        new ZenError("UNAVAILABLE", {
          message: `No usable X.509-SVID from the Workload API at ${target} within ${timeoutMs} ms.`,
          cause: source.lastProblem ?? undefined,
        }),
      );
    }, timeoutMs);
    const settle = (err: Error | null): void => {
      if (source.onFirst === null) return;
      source.onFirst = null;
      clearTimeout(timer);
      if (err === null) {
        resolve(source);
        return;
      }
      void source.close();
      reject(err);
    };
    source.onFirst = settle;
    source.connect();
  });
}
