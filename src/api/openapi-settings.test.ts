/**
 * Each scheme's settings in the OpenAPI document: createSource's body is a
 * union discriminated by `scheme`, one variant per scheme of the registry
 * (so a provider added to SCHEMES appears with no edit to the route), each
 * carrying its scheme's own settings schema; and a setting that does not
 * validate is named in the error, by the route and by the action.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { SCHEMES } from "../ingest/schemes/index.ts";
import { SCHEME_NAMES } from "../ingest/types.ts";

interface Variant {
  title?: string;
  properties: Record<string, { const?: string } & Record<string, unknown>>;
  required: string[];
}

describe("scheme settings in OpenAPI and in validation errors", () => {
  let api: TestApi;
  let projectId: string;
  let key: string;
  let body: { oneOf: Variant[]; discriminator?: { propertyName: string } };
  before(async () => {
    api = await startTestApi("pglite");
    ({ projectId, key } = await api.tenant("openapi"));
    const doc = (await api.request("GET", "/openapi.json")).json;
    body = doc.paths["/v1/projects/{project_id}/sources"].post.requestBody.content["application/json"].schema;
  });
  after(() => api?.close());

  test("createSource's body is one variant per registered scheme, discriminated by scheme", () => {
    assert.deepEqual(body.discriminator, { propertyName: "scheme" });
    assert.deepEqual(
      body.oneOf.map((v) => v.properties.scheme?.const),
      [...SCHEME_NAMES],
    );
    for (const v of body.oneOf) {
      const name = v.properties.scheme!.const as (typeof SCHEME_NAMES)[number];
      assert.ok(v.required.includes("scheme") && v.required.includes("name"), name);
      assert.equal(v.title, `${SCHEMES[name].provider.title} (${name})`);
      const { description, ...settings } = v.properties.settings as Record<string, unknown>;
      assert.match(String(description), new RegExp(`Settings of the ${name} scheme`));
      const expected = z.toJSONSchema(SCHEMES[name].settings, {
        io: "input",
        unrepresentable: "any",
      }) as Record<string, unknown>;
      delete expected.$schema;
      assert.deepEqual(
        settings,
        { ...expected, ...(settings.default === undefined ? {} : { default: settings.default }) },
        name,
      );
    }
  });

  test("generic HMAC's settings are typed field by field", () => {
    const generic = body.oneOf.find((v) => v.properties.scheme?.const === "generic-hmac")!;
    const settings = generic.properties.settings as {
      properties: Record<string, { enum?: string[]; type?: string }>;
      required: string[];
      additionalProperties: boolean;
    };
    assert.deepEqual(settings.required, ["header"]);
    assert.equal(settings.additionalProperties, false);
    assert.deepEqual(settings.properties.algorithm?.enum, ["sha256", "sha512"]);
    assert.deepEqual(settings.properties.encoding?.enum, ["hex", "base64"]);
    for (const field of ["header", "prefix", "timestampHeader", "idHeader", "typeHeader", "template"]) {
      assert.equal(settings.properties[field]?.type, "string", field);
    }
  });

  test("a setting that does not validate is named in the error", async () => {
    const create = (b: unknown) => api.request("POST", `/v1/projects/${projectId}/sources`, { key, body: b });
    const cases: [unknown, string][] = [
      [{ name: "x", scheme: "generic-hmac" }, "body.settings.header"],
      [{ name: "x", scheme: "generic-hmac", settings: {} }, "body.settings.header"],
      [
        { name: "x", scheme: "generic-hmac", settings: { header: "x-sig", algorithm: "md5" } },
        "body.settings.algorithm",
      ],
      [
        { name: "x", scheme: "generic-hmac", settings: { header: "x-sig", encoding: "base32" } },
        "body.settings.encoding",
      ],
      [{ name: "x", scheme: "no-such-scheme" }, "body.scheme"],
    ];
    for (const [b, path] of cases) {
      const r = await create(b);
      assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(b));
      const paths = r.json.error.details.issues.map((i: { path: string }) => i.path);
      assert.ok(paths.includes(path), `${JSON.stringify(b)}: ${paths}`);
      assert.ok(
        !r.text.includes("md5") && !r.text.includes("base32") && !r.text.includes("no-such-scheme"),
        r.text,
      );
    }
    const ok = await create({ name: "ok", scheme: "generic-hmac", settings: { header: "x-sig" } });
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual(ok.json.settings, { header: "x-sig", algorithm: "sha256", encoding: "hex" });

    const patch = await api.request("PATCH", `/v1/projects/${projectId}/sources/${ok.json.id}`, {
      key,
      body: { settings: { header: "x-sig", algorithm: "md5" } },
    });
    assertError(patch, 400, "VALIDATION_FAILED");
    assert.deepEqual(
      patch.json.error.details.issues.map((i: { path: string }) => i.path),
      ["body.settings.algorithm"],
    );
  });
});
