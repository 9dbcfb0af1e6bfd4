/** Credentials that hide inside free text (messages, URLs, error strings). */
import { CENSOR } from "./keys.ts";

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s/?#:@]*:)[^\s/?#@]+@/gi;
const API_KEY = /\bzm_(live|test)_[0-9A-Za-z]{8,}/g;
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

/** Masks credentials that show up inside free text: URL passwords, API keys, Authorization values. */
export function scrubString(s: string): string {
  if (s.length < 8) return s;
  return s
    .replace(URL_PASSWORD, "$1***@")
    .replace(API_KEY, `zm_$1_${CENSOR}`)
    .replace(AUTH_SCHEME, `$1 ${CENSOR}`);
}
