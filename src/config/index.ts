export { describeConfig } from "./describe.ts";
export { type LoadConfigInput, loadConfig } from "./load.ts";
export {
  assertMigrationSafe,
  assertProductionSafe,
  checkRuntimeRole,
  type RoleName,
  type RuntimeRoleFacts,
  type RuntimeRoleVerdict,
  runtimeRoleWarnings,
} from "./production.ts";
export {
  API_KEY_ENVIRONMENTS,
  type ApiKeyEnvironment,
  type Config,
  LOG_LEVELS,
  type LogLevel,
  PROFILES,
  type Profile,
} from "./schema.ts";
export { CONFIG_FILE_ENV, SETTINGS, type Setting } from "./settings.ts";
export { redactUrl } from "./urls.ts";
