export type {
  DeliverDeps,
  DestinationFormat,
  DestinationHealth,
  DestinationMethod,
  DestinationView,
  GateState,
  SecretVersionView,
} from "./common.ts";
export { createDestination } from "./create.ts";
export {
  CREDENTIAL_KINDS,
  type CredentialKind,
  credentialsSeal,
  type DoubleSeal,
  secretSeal,
} from "./credentials.ts";
export { deleteDestination } from "./delete.ts";
export { type DispatchDestination, loadDestinationsForDispatch } from "./dispatch.ts";
export {
  type CreateDestinationInput,
  createDestinationInput,
  DEFAULT_RETRY_SCHEDULE,
  DESTINATION_FORMATS,
  DESTINATION_METHODS,
  destinationFields,
  isReservedHeader,
  type RotateDestinationSecretInput,
  rotateDestinationSecretInput,
  type UpdateDestinationInput,
  updateDestinationInput,
} from "./input.ts";
export { getDestination, listDestinations } from "./read.ts";
export { rotateDestinationSecret } from "./rotate.ts";
export { updateDestination } from "./update.ts";
