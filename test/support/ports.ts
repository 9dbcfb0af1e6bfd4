/**
 * Every listener on a free port, so end-to-end tests run side by side (and
 * beside a developer's own `npm start`) without colliding.
 */
export const ANY_PORTS: Record<string, string> = {
  ZENMESH_API_PORT: "0",
  ZENMESH_INGEST_PORT: "0",
  ZENMESH_BACKEND_INTERNAL_PORT: "0",
  ZENMESH_INGESTER_INTERNAL_PORT: "0",
  ZENMESH_EGRESS_INTERNAL_PORT: "0",
  ZENMESH_BFF_INTERNAL_PORT: "0",
  ZENMESH_JOIN_PORT: "0",
  ZENMESH_METRICS_PORT: "0",
};
