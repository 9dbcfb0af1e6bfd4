/**
 * Routes are declared once, with zod schemas for params, query and body: the
 * same declaration validates requests and feeds the OpenAPI document, so the
 * document cannot drift from what the server accepts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { validationFailed, ZenError } from "../core/index.ts";

export type Method = "GET" | "POST" | "PATCH" | "DELETE";

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** Fastify syntax: `/v1/projects/:project_id/api-keys`. */
  url: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Whether a credential is required (documented as security in OpenAPI). */
  auth: boolean;
  params?: P;
  query?: Q;
  body?: B;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handler(
    req: FastifyRequest,
    reply: FastifyReply,
    input: { params: z.infer<P>; query: z.infer<Q>; body: z.infer<B> },
  ): Promise<unknown>;
}

export interface RegisteredRoute {
  method: Method;
  url: string;
  operationId: string;
  summary: string;
  tag: string;
  auth: boolean;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.infer<T> {
  if (!schema) return undefined as z.infer<T>;
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  // Paths and messages only: never echo the offending values back. Unknown keys are caller
  // text too (zod names them in its message), so they are reported without their names.
  const issues = r.error.issues.slice(0, 20).map((i) => ({
    path: [where, ...i.path.map(String)].join("."),
    message: i.code === "unrecognized_keys" ? "has a field that is not allowed" : i.message,
  }));
  throw where === "params" ? new ZenError("NOT_FOUND") : validationFailed(issues);
}

export interface RouteHost {
  app: FastifyInstance;
  registry: RegisteredRoute[];
  /** Establishes the caller's credential; runs before any input is parsed on authenticated routes. */
  authenticate(req: FastifyRequest): Promise<unknown>;
}

export function defineRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  host: RouteHost,
  spec: RouteSpec<P, Q, B>,
): void {
  const { handler, ...doc } = spec;
  host.registry.push(doc);
  host.app.route({
    method: spec.method,
    url: spec.url,
    // Anonymous callers learn nothing about a route's inputs: the credential is checked when the
    // request arrives, before its body is read or parsed, so 401 comes before 400, 404, 413 or 415.
    ...(spec.auth
      ? {
          onRequest: async (req: FastifyRequest) => {
            await host.authenticate(req);
          },
        }
      : {}),
    handler: async (req, reply) => {
      const params = parse(spec.params, req.params, "params");
      const query = parse(spec.query, req.query, "query");
      const body = parse(spec.body, req.body, "body");
      const out = await handler(req, reply, { params, query, body });
      if (reply.sent) return reply;
      if (out === undefined) return reply.code(204).send();
      return out;
    },
  });
}

function toOpenApiPath(url: string): string {
  return url.replace(/:([A-Za-z_]+)/g, "{$1}");
}

function jsonSchema(schema: z.ZodType): unknown {
  return z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
}

export function openApiDocument(
  registry: RegisteredRoute[],
  info: { title: string; version: string },
): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of registry) {
    const path = toOpenApiPath(r.url);
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ["path", r.params],
      ["query", r.query],
    ] as const) {
      if (!schema) continue;
      const js = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({
          name,
          in: where,
          required: where === "path" || (js.required ?? []).includes(name),
          schema: s,
        });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      responses[status] = resp.schema
        ? {
            description: resp.description,
            content: { "application/json": { schema: jsonSchema(resp.schema) } },
          }
        : { description: resp.description };
    }
    responses.default = {
      description: "Error",
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.body
        ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(r.body) } } } }
        : {}),
      responses,
      security: r.auth ? [{ bearerAuth: [] }, { sessionCookie: [] }] : [],
    };
  }
  return {
    openapi: "3.1.0",
    info,
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "API key: zm_<env>_…" },
        sessionCookie: { type: "apiKey", in: "cookie", name: "zm_session" },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message", "correlation_id"],
              properties: {
                code: { type: "string" },
                message: { type: "string" },
                correlation_id: { type: "string" },
                details: { type: "object" },
              },
            },
          },
        },
      },
    },
  };
}

/**
 * Checks that run in the action (they need the stored row or a scheme's
 * rules) name their paths as the input names them; on the wire they are
 * under `body.`, like the route's own validation.
 */
export async function asBody<T>(action: Promise<T>): Promise<T> {
  try {
    return await action;
  } catch (err) {
    if (!(err instanceof ZenError) || (err.code !== "VALIDATION_FAILED" && err.code !== "TEXT_NOT_ALLOWED")) {
      throw err;
    }
    const issues: unknown = err.details?.issues;
    if (!Array.isArray(issues)) throw err;
    throw new ZenError(err.code, {
      message: err.message,
      details: { issues: issues.map((i: { path: string }) => ({ ...i, path: `body.${i.path}` })) },
      ...(err.unreachable ? { unreachable: err.unreachable } : {}),
    });
  }
}
