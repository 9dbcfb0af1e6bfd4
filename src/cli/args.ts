import { ZenError } from "../core/index.ts";

export interface CommandFlags {
  /** Flags this command understands: name → takes a value. */
  own: Record<string, boolean>;
}

/** Splits argv into this command's own flags and the rest (configuration flags for loadConfig). */
export function splitFlags(
  argv: string[],
  spec: CommandFlags,
): { flags: Map<string, string | true>; rest: string[] } {
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    const name = m?.[1];
    if (!m || name === undefined || !(name in spec.own)) {
      rest.push(arg);
      // A configuration flag's value travels with it.
      if (m && m[2] === undefined && i + 1 < argv.length && !argv[i + 1]!.startsWith("--"))
        rest.push(argv[++i]!);
      continue;
    }
    if (spec.own[name]) {
      const value = m[2] ?? argv[++i];
      if (value === undefined)
        throw new ZenError("VALIDATION_FAILED", { message: `--${name} needs a value` });
      flags.set(name, value);
    } else {
      flags.set(name, true);
    }
  }
  return { flags, rest };
}
