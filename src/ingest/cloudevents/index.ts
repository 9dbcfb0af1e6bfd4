export {
  CORE_ATTRIBUTES,
  CORRELATION_EXTENSION,
  essence,
  isJsonMediaType,
  isValidAttributeName,
  isValidNonEmptyString,
  LIMITS,
  percentDecode,
  percentEncode,
  SPEC_VERSION,
} from "./attributes.ts";
export {
  buildEnvelope,
  type CloudEventEnvelope,
  type EnvelopeInput,
  envelopeAttributes,
  ingestFields,
  sourceUri,
  toBinaryHeaders,
  toStructured,
} from "./envelope.ts";
export {
  type CeParseFailure,
  type CeParseResult,
  type ContentMode,
  detectMode,
  type IncomingEvent,
  parseIncoming,
} from "./parse.ts";
