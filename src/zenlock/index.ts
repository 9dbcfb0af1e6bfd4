export type { KeyPurpose, SealContext } from "./format.ts";
export {
  DEV_MASTER_KEY_FILE,
  generateMasterKey,
  type LoadMasterKeyOptions,
  loadMasterKeyRing,
  MASTER_KEY_LENGTH,
  type MasterKeyRing,
  parseMasterKeyRing,
} from "./master-key.ts";
export { ZenLock, type ZenLockOptions } from "./zenlock.ts";
