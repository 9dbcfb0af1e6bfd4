import type { Database } from "../../db/index.ts";
import type { ZenLock } from "../../zenlock/index.ts";

/** What the events actions need; the API passes its tenancy services, which include these. */
export interface EventsDeps {
  db: Database;
  zenlock: ZenLock;
}
