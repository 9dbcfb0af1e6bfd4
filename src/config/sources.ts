/**
 * Reads the raw inputs (command-line flags, `ZENMESH_*` environment variables,
 * the JSON config file) without judging them; the schema does that. Errors
 * name flags and paths but never the values that follow them, which may be
 * secrets typed in the wrong place.
 */
import { readFileSync } from "node:fs";
import { ZenError } from "../core/index.ts";
import { CONFIG_FILE_FLAG, SETTINGS, type Setting, type SettingKind } from "./settings.ts";

export type RawValue = string | number | boolean;

export interface ParsedFlags {
  configFile?: string;
  /** Keyed by setting path. */
  values: Map<string, string>;
}

function invalid(message: string): ZenError {
  return new ZenError("CONFIG_INVALID", { message: `Invalid configuration: ${message}` });
}

const byFlag = new Map(SETTINGS.flatMap((s) => (s.flag ? [[s.flag, s] as const] : [])));

export function parseFlags(argv: readonly string[]): ParsedFlags {
  const out: ParsedFlags = { values: new Map() };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("--") || arg === "--") {
      throw invalid(
        `unexpected command-line argument at position ${i + 1} (settings are given as --name value)`,
      );
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const setting = byFlag.get(name);
    if (name !== CONFIG_FILE_FLAG && setting === undefined) throw invalid(`unknown flag --${name}`);
    if (seen.has(name)) throw invalid(`flag --${name} is given more than once`);
    seen.add(name);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith("--")) {
        value = next;
        i++;
      }
    }
    if (value === undefined || value === "") throw invalid(`flag --${name} needs a value`);
    if (setting === undefined) out.configFile = value;
    else out.values.set(setting.path, value);
  }
  return out;
}

/** Set, non-empty `ZENMESH_*` variables, keyed by setting path. Empty means unset. */
export function envValues(env: NodeJS.ProcessEnv): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of SETTINGS) {
    const v = env[s.env];
    if (v !== undefined && v !== "") out.set(s.path, v);
  }
  return out;
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/** Text from env/flags into the setting's type; unconvertible text is left for the schema to reject. */
export function coerce(kind: SettingKind, text: string): RawValue {
  switch (kind) {
    case "string":
      return text;
    case "integer": {
      if (!/^-?\d+$/.test(text.trim())) return text;
      const n = Number(text.trim());
      return Number.isSafeInteger(n) ? n : text;
    }
    case "boolean": {
      const t = text.trim().toLowerCase();
      if (TRUE.has(t)) return true;
      if (FALSE.has(t)) return false;
      return text;
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown setting kind ${String(never)}`);
    }
  }
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** The parsed JSON object of a config file. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unknown error";
    throw invalid(`config file ${path} cannot be read (${code})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, (key, value: unknown) => {
      if (FORBIDDEN_KEYS.has(key)) throw new SyntaxError("forbidden key");
      return value;
    });
  } catch {
    // JSON.parse errors quote the surrounding text, which may be a secret.
    throw invalid(`config file ${path} is not valid JSON (or uses a forbidden key such as __proto__)`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalid(`config file ${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Writes `value` at a dotted path, creating sections; a non-object in the way is left for the schema to reject. */
export function setAt(target: Record<string, unknown>, setting: Setting, value: RawValue): void {
  const parts = setting.path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      node[part] = created;
      node = created;
    } else if (isPlainObject(next)) node = next;
    else return;
  }
  node[parts[parts.length - 1] ?? setting.path] = value;
}

/** The value at a dotted path, if any. */
export function getAt(source: Record<string, unknown>, path: string): unknown {
  let node: unknown = source;
  for (const part of path.split(".")) {
    if (!isPlainObject(node)) return undefined;
    node = node[part];
  }
  return node;
}
