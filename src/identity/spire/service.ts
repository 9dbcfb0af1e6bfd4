/**
 * The wire contract of the SPIFFE Workload API's X.509-SVID profile (SPIFFE
 * Workload API spec; SPIFFE Workload Endpoint spec): the gRPC method, its
 * serializers, the mandatory security header and the endpoint address.
 *
 * The `workload.spiffe.io: true` header is how a Workload API server tells a
 * deliberate call from a request forged by a browser or another HTTP/2 client
 * pointed at the socket (SSRF); servers reject calls without it with
 * INVALID_ARGUMENT, so every call this module makes carries it.
 */
import { Metadata, type MethodDefinition, type ServiceDefinition } from "@grpc/grpc-js";
import {
  decodeX509SvidRequest,
  decodeX509SvidResponse,
  encodeX509SvidRequest,
  encodeX509SvidResponse,
  type X509SvidRequest,
  type X509SvidResponse,
} from "./proto.ts";

export const WORKLOAD_API_HEADER = "workload.spiffe.io";
export const WORKLOAD_API_HEADER_VALUE = "true";
export const SPIFFE_ENDPOINT_SOCKET_ENV = "SPIFFE_ENDPOINT_SOCKET";

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `SpiffeWorkloadAPI` is declared without a proto package, hence the bare service name in the path. */
export const fetchX509SvidMethod: MethodDefinition<X509SvidRequest, X509SvidResponse> = {
  path: "/SpiffeWorkloadAPI/FetchX509SVID",
  requestStream: false,
  responseStream: true,
  originalName: "fetchX509Svid",
  requestSerialize: (m) => toBuffer(encodeX509SvidRequest(m)),
  requestDeserialize: (b) => decodeX509SvidRequest(b),
  responseSerialize: (m) => toBuffer(encodeX509SvidResponse(m)),
  responseDeserialize: (b) => decodeX509SvidResponse(b),
};

/** The subset of the `SpiffeWorkloadAPI` service zenmesh speaks, for `Server.addService`. */
export const workloadApiService: ServiceDefinition = { FetchX509SVID: fetchX509SvidMethod };

export function workloadApiMetadata(): Metadata {
  const md = new Metadata();
  md.set(WORKLOAD_API_HEADER, WORKLOAD_API_HEADER_VALUE);
  return md;
}

/** True when the call carries exactly `workload.spiffe.io: true`, as the spec requires. */
export function hasWorkloadApiHeader(md: Metadata): boolean {
  const values = md.get(WORKLOAD_API_HEADER);
  return values.length === 1 && values[0] === WORKLOAD_API_HEADER_VALUE;
}

/**
 * Normalizes a Workload API endpoint into a grpc-js target. Accepts an
 * absolute socket path or a `unix:` URI as the Workload Endpoint spec defines
 * it (absolute path; no authority, query or fragment). `tcp:` endpoints are
 * refused: they carry no peer attestation and zenmesh never needs them.
 */
export function workloadApiTarget(endpoint: string): string {
  const value = endpoint.trim();
  if (value.startsWith("/")) return `unix://${value}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`Workload API endpoint is neither an absolute path nor a URI: ${value}`);
  }
  if (url.protocol !== "unix:") {
    throw new Error(`Workload API endpoint scheme ${url.protocol} is not supported; use unix://`);
  }
  if (url.host !== "" || url.username !== "" || url.password !== "") {
    throw new Error("Workload API unix endpoint must not carry an authority");
  }
  if (url.search !== "" || url.hash !== "") {
    throw new Error("Workload API unix endpoint must not carry a query or fragment");
  }
  const path = decodeURIComponent(url.pathname);
  if (!path.startsWith("/") || path === "/") {
    throw new Error("Workload API unix endpoint needs an absolute socket path");
  }
  return `unix://${path}`;
}

/** The endpoint from `SPIFFE_ENDPOINT_SOCKET`, or undefined when unset. */
export function workloadApiEndpointFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env[SPIFFE_ENDPOINT_SOCKET_ENV];
  return v === undefined || v.trim() === "" ? undefined : v;
}
