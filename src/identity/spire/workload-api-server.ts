/**
 * A minimal in-process server of the SPIFFE Workload API (X.509-SVID
 * profile), bound on a unix socket, for tests of anything that consumes
 * SPIRE identities. It speaks the real protocol (gRPC over HTTP/2, the
 * `/SpiffeWorkloadAPI/FetchX509SVID` server stream, this package's proto3
 * codec) and enforces the `workload.spiffe.io: true` header like SPIRE's
 * agent, but it performs no workload attestation: every caller gets the
 * responses the test pushes.
 */
import { Server, ServerCredentials, type ServerWritableStream, status } from "@grpc/grpc-js";
import type { X509SvidRequest, X509SvidResponse } from "./proto.ts";
import { hasWorkloadApiHeader, workloadApiService } from "./service.ts";

type Stream = ServerWritableStream<X509SvidRequest, X509SvidResponse>;

export interface WorkloadApiServer {
  /** `unix:///…`, to pass as `socketPath`. */
  readonly address: string;
  /** Calls accepted (with the security header) so far. */
  readonly accepted: number;
  /** Calls refused for a missing or wrong security header. */
  readonly rejected: number;
  /** Streams currently open. */
  openStreams(): number;
  /** Sends a response on every open stream and to every stream opened later. */
  push(response: X509SvidResponse): void;
  /** Ends every open stream: normally (OK) or with an error status. */
  endStreams(code?: status, details?: string): void;
  /** Resolves once `n` calls in total have been accepted. */
  waitForCalls(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface WorkloadApiServerOptions {
  /** Absolute path of the unix socket to create. */
  socketPath: string;
  /** Sent on each new stream; without it (and before any push) streams stay silent. */
  initial?: X509SvidResponse;
}

export async function startWorkloadApiServer(opts: WorkloadApiServerOptions): Promise<WorkloadApiServer> {
  const server = new Server();
  const streams = new Set<Stream>();
  let latest = opts.initial;
  let accepted = 0;
  let rejected = 0;
  const callWaiters = new Set<() => void>();

  server.addService(workloadApiService, {
    FetchX509SVID: (call: Stream) => {
      if (!hasWorkloadApiHeader(call.metadata)) {
        rejected++;
        call.emit("error", {
          code: status.INVALID_ARGUMENT,
          details: "security header missing from request",
        });
        return;
      }
      accepted++;
      streams.add(call);
      const forget = (): void => {
        streams.delete(call);
      };
      call.on("cancelled", forget);
      call.on("finish", forget);
      call.on("error", forget);
      if (latest !== undefined) call.write(latest);
      for (const wake of [...callWaiters]) wake();
    },
  });

  const address = `unix://${opts.socketPath}`;
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });

  return {
    address,
    get accepted() {
      return accepted;
    },
    get rejected() {
      return rejected;
    },
    openStreams: () => streams.size,
    push(response) {
      latest = response;
      for (const s of streams) s.write(response);
    },
    endStreams(code = status.OK, details = "") {
      for (const s of [...streams]) {
        streams.delete(s);
        if (code === status.OK) s.end();
        else s.emit("error", { code, details });
      }
    },
    waitForCalls(n, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          callWaiters.delete(check);
          reject(new Error(`only ${accepted} of ${n} Workload API calls within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = (): void => {
          if (accepted < n) return;
          clearTimeout(timer);
          callWaiters.delete(check);
          resolve();
        };
        callWaiters.add(check);
        check();
      });
    },
    async close() {
      // Open streams never finish on their own, so a graceful shutdown would wait forever.
      server.forceShutdown();
    },
  };
}
