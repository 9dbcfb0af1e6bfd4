/**
 * The CLI commands that act as an API client rather than as the operator:
 * they hold a project's API key (from ZENMESH_API_KEY, never a flag, which
 * would show in the process list) and so have exactly its permissions. The
 * API is found at `--api-url`, else in the running system's endpoints.json.
 */
import { readFileSync } from "node:fs";
import type { Config } from "../config/index.ts";
import { ERROR_CODES, type ErrorCode, ZenError } from "../core/index.ts";
import { endpointsPath } from "../roles/up.ts";

export const API_KEY_ENV = "ZENMESH_API_KEY";

interface ClientInput {
  cfg: Config;
  env: NodeJS.ProcessEnv;
  apiUrl?: string;
}

function apiBase(input: ClientInput): string {
  if (input.apiUrl !== undefined) return input.apiUrl.replace(/\/+$/, "");
  let endpoints: { api?: unknown };
  try {
    endpoints = JSON.parse(readFileSync(endpointsPath(input.cfg.dataDir), "utf8")) as { api?: unknown };
  } catch {
    throw new ZenError("UNAVAILABLE", {
      message: `zenmesh is not running on ${input.cfg.dataDir} (no endpoints.json); pass --api-url`,
    });
  }
  if (typeof endpoints.api !== "string") {
    throw new ZenError("UNAVAILABLE", { message: "endpoints.json names no API; pass --api-url" });
  }
  return endpoints.api;
}

function apiKey(env: NodeJS.ProcessEnv): string {
  const key = env[API_KEY_ENV];
  if (key === undefined || key === "") {
    throw new ZenError("UNAUTHENTICATED", {
      message: `set ${API_KEY_ENV} to an API key of the source's project`,
    });
  }
  return key;
}

const isCode = (c: unknown): c is ErrorCode => typeof c === "string" && Object.hasOwn(ERROR_CODES, c);

async function call(base: string, key: string, method: string, path: string): Promise<unknown> {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(60_000),
  });
  const text = await r.text();
  let body: { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  if (r.ok) return body;
  const code = body?.error?.code;
  const message =
    typeof body?.error?.message === "string" ? body.error.message : `the API answered ${r.status}`;
  const details = body?.error?.details;
  throw new ZenError(isCode(code) ? code : "INTERNAL", {
    message: details === undefined ? message : `${message} ${JSON.stringify(details)}`,
    status: r.status,
  });
}

export interface TestSourceResult {
  event_id: string;
  duplicate: boolean;
  scheme: string;
  ingest_url: string;
}

/** `zenmesh source test`: the project is the API key's own unless named. */
export async function testSource(
  input: ClientInput & { sourceId: string; projectId?: string },
): Promise<TestSourceResult> {
  const base = apiBase(input);
  const key = apiKey(input.env);
  const projectId =
    input.projectId ?? ((await call(base, key, "GET", "/v1/me")) as { project_id?: string }).project_id;
  if (typeof projectId !== "string") {
    throw new ZenError("VALIDATION_FAILED", {
      message: "this credential names no project; pass --project-id",
    });
  }
  const path = `/v1/projects/${encodeURIComponent(projectId)}/sources/${encodeURIComponent(input.sourceId)}/test`;
  return (await call(base, key, "POST", path)) as TestSourceResult;
}
