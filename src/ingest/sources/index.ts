export {
  DEFAULT_MAX_SECRET_VERSIONS,
  MAX_SECRET_VERSIONS_LIMIT,
  type SecretVersionView,
  type SourceDeps,
  type SourceView,
} from "./common.ts";
export { createSource } from "./create.ts";
export { deleteSource } from "./delete.ts";
export {
  type CreateSourceInput,
  createSourceBody,
  createSourceInput,
  DEFAULT_CONTENT_TYPES,
  DEFAULT_MAX_BODY_BYTES,
  MAX_BODY_BYTES_LIMIT,
  type RotateSecretInput,
  rotateSecretInput,
  sourceFields,
  type UpdateSourceInput,
  updateSourceInput,
} from "./input.ts";
export { getSource, listSources } from "./read.ts";
export { rotateSourceSecret } from "./rotate.ts";
export { secretProblem } from "./scheme-rules.ts";
export {
  type LoadSourceChangesOptions,
  loadSourceChanges,
  SNAPSHOT_PAGE_SIZE,
  type SourceChanges,
} from "./snapshot.ts";
export {
  assertSchemeSigns,
  sampleRequest,
  sendTestEvent,
  TEST_SENDS_PER_HOUR,
  type TestSendDeps,
  type TestSendResult,
} from "./test-send.ts";
export { updateSource } from "./update.ts";
