/**
 * The CLI's flags: each command's own, then the configuration flags every
 * command takes. Anything else is refused with UNKNOWN_FLAG naming the flag
 * (`--nam X` must not create a tenant without a name, or pass for a typo of
 * a setting), before any work is done. Values are never repeated in errors:
 * a secret typed in the wrong place must not land in a terminal's scrollback.
 */
import { SETTINGS } from "../config/index.ts";
import { ZenError } from "../core/index.ts";

export interface CommandFlags {
  /** Flags this command understands: name → takes a value. */
  own: Record<string, boolean>;
}

const CONFIG_FLAGS: ReadonlySet<string> = new Set([
  "config",
  ...SETTINGS.flatMap((s) => (s.flag ? [s.flag] : [])),
]);

export function unknownFlag(name: string, command: string): ZenError {
  return new ZenError("UNKNOWN_FLAG", {
    message: `unknown flag --${name} for \`zenmesh ${command}\` (see \`zenmesh help\`)`,
    details: { flag: name },
  });
}

/**
 * Splits argv into this command's own flags and the rest (configuration
 * flags, for loadConfig). A flag that is neither is UNKNOWN_FLAG; a bare
 * word where a flag belongs is refused by loadConfig.
 */
export function splitFlags(
  argv: string[],
  spec: CommandFlags,
  command = "",
): { flags: Map<string, string | true>; rest: string[] } {
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    const name = m?.[1];
    if (m && name !== undefined && !(name in spec.own) && !CONFIG_FLAGS.has(name)) {
      throw unknownFlag(name, command);
    }
    if (!m || name === undefined || !(name in spec.own)) {
      if (arg.startsWith("-") && !m)
        throw unknownFlag(arg.split("=")[0]!.replace(/^-+/, "").slice(0, 64), command);
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
      if (m[2] !== undefined) {
        throw new ZenError("VALIDATION_FAILED", { message: `--${name} takes no value` });
      }
      flags.set(name, true);
    }
  }
  return { flags, rest };
}
