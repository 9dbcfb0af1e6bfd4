export { certificatesToPem, DerError, pkcs8ToPem, splitDerSequences } from "./der.ts";
export {
  decodeX509Svid,
  decodeX509SvidRequest,
  decodeX509SvidResponse,
  encodeX509Svid,
  encodeX509SvidRequest,
  encodeX509SvidResponse,
  ProtoDecodeError,
  type X509SvidMessage,
  type X509SvidRequest,
  type X509SvidResponse,
} from "./proto.ts";
export {
  fetchX509SvidMethod,
  SPIFFE_ENDPOINT_SOCKET_ENV,
  WORKLOAD_API_HEADER,
  workloadApiEndpointFromEnv,
  workloadApiService,
  workloadApiTarget,
} from "./service.ts";
export { createSpireIdentitySource, type SpireIdentitySourceOptions } from "./source.ts";
export {
  type SvidRejection,
  type SvidSelection,
  type SvidSelector,
  selectSvid,
  svidToMessage,
  toSvid,
} from "./svid.ts";
export {
  startWorkloadApiServer,
  type WorkloadApiServer,
  type WorkloadApiServerOptions,
} from "./workload-api-server.ts";
