/** Who is acting. Every control-plane action and audit entry names one. */
export type Actor =
  | { type: "user"; id: string }
  | { type: "api_key"; id: string; projectId: string }
  | { type: "workload"; spiffeId: string }
  | { type: "operator"; id: string }
  | { type: "anonymous" };

/** Passed to every control-plane action: `verbEntity(ctx, input)`. */
export interface ActionContext {
  tenantId: string;
  projectId?: string;
  actor: Actor;
  /** Permissions the credential holds in this tenant/project. */
  permissions: ReadonlySet<string>;
  correlationId: string;
  ip?: string;
}

export function actorId(actor: Actor): string | null {
  switch (actor.type) {
    case "user":
    case "api_key":
    case "operator":
      return actor.id;
    case "workload":
      return actor.spiffeId;
    case "anonymous":
      return null;
    default: {
      const never: never = actor;
      throw new Error(`unknown actor ${String(never)}`);
    }
  }
}
