/**
 * An IdentitySource fed by the supervisor over IPC: the child never sees the
 * CA, only its own SVID, replaced in place on every renewal.
 */
import type { IdentitySource, Svid } from "../identity/types.ts";

export interface PushedIdentity extends IdentitySource {
  push(svid: Svid): void;
}

export function createPushedIdentity(first: Svid): PushedIdentity {
  let current = first;
  const listeners = new Set<(s: Svid) => void>();
  return {
    current: () => current,
    onUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    push(svid) {
      current = svid;
      for (const l of listeners) l(svid);
    },
    async close() {
      listeners.clear();
    },
  };
}
