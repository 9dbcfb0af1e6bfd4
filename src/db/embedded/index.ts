/**
 * The embedded PostgreSQL server that `zenmesh up` and the operator commands
 * run from the data dir when no external database is configured.
 */
export { findPgBinaries, type PgBinaries, platformPackage } from "./binaries.ts";
export { SERVER_USER, type ServerUser, serverUser } from "./os-user.ts";
export {
  assertNotPglite,
  DATABASE,
  describeListen,
  type EmbeddedOptions,
  type EmbeddedPaths,
  embeddedPaths,
  type Listen,
  LOGIN_ROLE,
  OWNER_ROLE,
  type RunningServer,
  recoverLeftovers,
  startEmbeddedServer,
} from "./server.ts";
export { STATUS_NAME, type SupervisedServer, superviseEmbeddedServer } from "./supervise.ts";
