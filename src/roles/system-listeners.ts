/**
 * What egress knows of zenmesh's own listeners, so it never delivers to them
 * (the SSRF guard refuses them whatever the allow-list says): the control
 * API, the public ingest listener, the metrics listener, every role's internal mTLS port and the
 * backend's join listener, from the configuration; the URLs the roles
 * actually listen on, as the supervisor reports them (ports chosen by the OS
 * included); and the addresses the configured host names resolve to.
 */
import type { Config } from "../config/index.ts";
import type { Lookup } from "../deliver/ssrf/guard.ts";
import { parseIpLiteral } from "../deliver/ssrf/ip.ts";
import { type ListenerAddress, listenerFromUrl } from "../deliver/ssrf/system-listeners.ts";

export interface SystemListeners {
  /** Every listener known now. */
  list(): readonly ListenerAddress[];
  /** The URLs the running system listens on (replaces the previous report). */
  report(urls: readonly string[]): void;
  /** Adds one listener this process opened itself. */
  add(url: string): void;
  /**
   * Resolves the configured host names that are not IP literals, adding
   * every address they have. Returns the names that did not resolve.
   */
  resolveNames(lookup: Lookup, timeoutMs: number): Promise<string[]>;
}

function isLiteral(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return bare.toLowerCase() === "localhost" || parseIpLiteral(bare) !== null;
}

/** The listeners a configuration names; ports left to the OS (0) are learnt from reports instead. */
export function configuredListeners(config: Config): ListenerAddress[] {
  const out: ListenerAddress[] = [];
  const add = (host: string, port: number) => {
    if (port > 0) out.push({ host, port });
  };
  add(config.api.host, config.api.port);
  add(config.ingest.host, config.ingest.port);
  if (config.metrics.enabled) add(config.metrics.host, config.metrics.port);
  const m = config.mesh;
  for (const port of [m.backendPort, m.egressPort, m.ingesterPort, m.bffPort, m.joinPort]) add(m.host, port);
  for (const url of [m.backendUrl, m.joinUrl, config.deliver.egressUrl, config.ingest.publicUrl]) {
    const l = url === undefined ? undefined : listenerFromUrl(url);
    if (l !== undefined) out.push(l);
  }
  // The backend's host, when it runs elsewhere, also holds the API, metrics and join listeners.
  const backend = m.backendUrl === undefined ? undefined : listenerFromUrl(m.backendUrl);
  if (backend !== undefined) {
    add(backend.host, config.api.port);
    if (config.metrics.enabled) add(backend.host, config.metrics.port);
    add(backend.host, m.joinPort);
  }
  return out;
}

export function createSystemListeners(config: Config): SystemListeners {
  const configured = configuredListeners(config);
  let reported: ListenerAddress[] = [];
  const own: ListenerAddress[] = [];
  const resolved: ListenerAddress[] = [];
  let all: readonly ListenerAddress[] = configured;
  const rebuild = () => {
    all = [...configured, ...own, ...reported, ...resolved];
  };
  const parse = (urls: readonly string[]) =>
    urls.map(listenerFromUrl).filter((l): l is ListenerAddress => l !== undefined);
  return {
    list: () => all,
    report(urls) {
      reported = parse(urls);
      rebuild();
    },
    add(url) {
      own.push(...parse([url]));
      rebuild();
    },
    async resolveNames(lookup, timeoutMs) {
      const failed: string[] = [];
      const named = [...configured, ...reported].filter((l) => !isLiteral(l.host));
      for (const l of named) {
        let timer: NodeJS.Timeout | undefined;
        try {
          const answers = await Promise.race([
            lookup(l.host),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
            }),
          ]);
          for (const a of answers) resolved.push({ host: a.address, port: l.port });
        } catch {
          failed.push(l.host);
        } finally {
          clearTimeout(timer);
        }
      }
      rebuild();
      return failed;
    },
  };
}
