/**
 * Loads the configuration once at start. Precedence, lowest first: schema
 * defaults, the JSON config file, `ZENMESH_*` environment variables, flags.
 * Any problem is fatal (CONFIG_INVALID) and every problem is reported at once,
 * each naming its setting; values are never echoed since some are secrets.
 */
import { resolve } from "node:path";
import type { z } from "zod";
import { ZenError } from "../core/index.ts";
import { type Config, configSchema } from "./schema.ts";
import { CONFIG_FILE_ENV, SETTINGS, settingAt, settingName } from "./settings.ts";
import { coerce, envValues, getAt, parseFlags, readConfigFile, setAt } from "./sources.ts";

export interface LoadConfigInput {
  /** Only the option flags (the CLI strips its command and role first). */
  argv?: readonly string[];
  /** Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Config file used when neither `--config` nor ZENMESH_CONFIG names one. */
  file?: string;
  /** Anchor for relative paths; defaults to `process.cwd()`. */
  cwd?: string;
}

export function loadConfig(input: LoadConfigInput = {}): Config {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const flags = parseFlags(input.argv ?? []);
  const filePath = flags.configFile ?? (env[CONFIG_FILE_ENV] || undefined) ?? input.file;
  const raw = filePath === undefined ? {} : readConfigFile(resolve(cwd, filePath));

  const origin = new Map<string, string>();
  const layers = [
    { values: envValues(env), label: () => "set in the environment" },
    { values: flags.values, label: (flag?: string) => `set by --${flag}` },
  ];
  for (const layer of layers) {
    for (const [path, text] of layer.values) {
      const setting = settingAt(path);
      if (setting === undefined) continue;
      setAt(raw, setting, coerce(setting.kind, text));
      origin.set(path, layer.label(setting.flag));
    }
  }

  const result = configSchema(cwd).safeParse(raw);
  if (!result.success) {
    const problems = describeIssues(result.error.issues, origin, raw, filePath);
    const message = scrubSecrets(`Invalid configuration:\n  - ${problems.join("\n  - ")}`, raw);
    throw new ZenError("CONFIG_INVALID", {
      message,
      details: { settings: result.error.issues.map((i) => i.path.map(String).join(".")) },
    });
  }
  return deepFreeze(result.data);
}

function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  origin: ReadonlyMap<string, string>,
  raw: Record<string, unknown>,
  filePath: string | undefined,
): string[] {
  const fileLabel = filePath === undefined ? "" : ` in config file ${filePath}`;
  return issues.flatMap((issue) => {
    const path = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => `${path === "" ? k : `${path}.${k}`}: not a known setting${fileLabel}`);
    }
    const from = origin.get(path) ?? (getAt(raw, path) === undefined ? "" : fileLabel.trim());
    return [`${settingName(path)}${from ? ` ${from}` : ""}: ${issue.message}`];
  });
}

/** Defence in depth: no secret input survives into a message, whatever the schema says. */
function scrubSecrets(message: string, raw: Record<string, unknown>): string {
  let out = message;
  for (const s of SETTINGS) {
    if (!s.secret) continue;
    const value = getAt(raw, s.path);
    if (typeof value !== "string") continue;
    const needles = [value, ...urlPasswords(value)].filter((n) => n.length >= 3);
    for (const n of needles) out = out.split(n).join("***");
  }
  return out;
}

function urlPasswords(value: string): string[] {
  try {
    const u = new URL(value);
    const p = u.password;
    return p === "" ? [] : [p, decodeURIComponent(p)];
  } catch {
    return [];
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
