/**
 * docs/providers/ cannot drift from the code: the index lists exactly the
 * registered schemes, each with its page; every page names its provider, its
 * scheme and the provider's signing documentation, says what retries get and
 * which settings apply, and its source definition and signed `curl` are run
 * as written against a real ingester (a real database, the real ingest
 * listener), which must store the event typed as the provider's. A page may
 * go without a curl only when no shell can sign for its provider (a private
 * key zenmesh never holds, so the source holds a public key and zenmesh
 * generates no secret for it); it says why in a `zenmesh:no-curl` marker,
 * the API is asked to show that it really cannot make that secret, and the
 * page's source, given a public key whose private half the test holds, must
 * store a request signed with it as the provider signs.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { ZenError } from "../../src/core/index.ts";
import { ed25519Secret, p256Secret, signingKeyOf } from "../../src/ingest/providers/keys.test-support.ts";
import { SCHEMES } from "../../src/ingest/schemes/index.ts";
import { SCHEME_NAMES, type SchemeName } from "../../src/ingest/types.ts";
import { startTestApi, type TestApi } from "../support/api.ts";

const DIR = resolve(import.meta.dirname, "..", "..", "docs", "providers");
const index = readFileSync(resolve(DIR, "README.md"), "utf8");
const page = (name: string) => readFileSync(resolve(DIR, `${name}.md`), "utf8");

/** The fenced block of `lang` right after `<!-- zenmesh:<marker> -->`. */
function markedBlock(text: string, marker: string, lang: string): string | undefined {
  const m = new RegExp(`<!-- zenmesh:${marker} -->\\n\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(text);
  return m?.[1];
}

const NO_CURL = /<!-- zenmesh:no-curl: (.+?) -->/;

/** The page's source definition, as the reader would POST it. */
function definitionOf(text: string): { scheme?: unknown } & Record<string, unknown> {
  const block = markedBlock(text, "create-source", "json");
  assert.ok(block, "a source definition");
  return JSON.parse(block) as { scheme?: unknown } & Record<string, unknown>;
}

/**
 * Whether zenmesh can hold what signs for this scheme: false when the
 * source's secret is the provider's public key, which zenmesh cannot make
 * (generateSecret refuses with SOURCE_SECRET_REQUIRED).
 */
function zenmeshHoldsSigningSecret(name: SchemeName): boolean {
  try {
    SCHEMES[name].generateSecret();
    return true;
  } catch (err) {
    if (err instanceof ZenError && err.code === "SOURCE_SECRET_REQUIRED") return false;
    throw err;
  }
}

/**
 * Providers that type every request alike (one POST carries a batch of
 * events), so their stored type is the one a body without facts gets too.
 */
const BATCH_TYPED: ReadonlySet<SchemeName> = new Set<SchemeName>(["sendgrid", "mandrill"]);

/**
 * A request that names no event type (a wrong header, a body of another
 * shape) still verifies and is stored under the scheme's fallback type; a
 * page's request must be typed as its provider types it.
 */
function assertTypedAsProvider(name: SchemeName, type: string, settings: unknown): void {
  const fallback = SCHEMES[name].describe({
    headers: {},
    body: Buffer.from("{}"),
    json: {},
    settings: (settings ?? {}) as Record<string, unknown>,
  }).type;
  if (BATCH_TYPED.has(name)) assert.equal(type, fallback, "every batch is typed alike");
  else assert.notEqual(type, fallback, `typed as ${SCHEMES[name].provider.title} types it`);
}

/** How the providers that sign with a private key make their key pairs (the public half is the source's secret). */
const PROVIDER_KEY: Partial<Record<SchemeName, () => string>> = {
  discord: ed25519Secret,
  sendgrid: p256Secret,
};

const WITH_CURL = SCHEME_NAMES.filter((name) => markedBlock(page(name), "signed-curl", "sh") !== undefined);
const WITHOUT_CURL = SCHEME_NAMES.filter((name) => !WITH_CURL.includes(name));

const rows = [...index.matchAll(/^\| (.+?) \| `([a-z0-9-]+)` \| \[([^\]]+)\]\(([^)]+)\) \|$/gm)].map((m) => ({
  title: m[1]!,
  scheme: m[2]!,
  text: m[3]!,
  href: m[4]!,
}));

describe("the providers index", () => {
  test("lists every registered scheme once, and nothing else", () => {
    assert.deepEqual(rows.map((r) => r.scheme).sort(), [...SCHEME_NAMES].sort());
  });

  test("names each provider as its scheme does and links its page, which exists", () => {
    for (const r of rows) {
      const scheme = SCHEMES[r.scheme as SchemeName];
      assert.equal(r.title, scheme.provider.title, r.scheme);
      assert.equal(r.href, `${r.scheme}.md`);
      assert.equal(r.text, r.href);
      assert.ok(existsSync(resolve(DIR, r.href)), `docs/providers/${r.href} is missing`);
    }
  });

  test("every page in the folder is a registered scheme's", () => {
    const pages = readdirSync(DIR).filter((f) => f.endsWith(".md") && f !== "README.md");
    assert.deepEqual(pages.map((f) => f.slice(0, -3)).sort(), [...SCHEME_NAMES].sort());
  });
});

describe("each provider's page", () => {
  for (const name of SCHEME_NAMES) {
    test(`${name}: names the provider, the scheme, its signature's documentation and what retries get`, () => {
      const text = page(name);
      const { title, docs } = SCHEMES[name].provider;
      assert.ok(text.startsWith(`# ${title}\n`), "starts with the provider's name");
      assert.ok(text.includes(`Scheme \`${name}\``), "names the scheme");
      if (/^https:\/\//.test(docs)) assert.ok(text.includes(docs), `links ${docs}`);
      assert.match(text, /^## Create the source$/m);
      assert.match(text, /^## Retries and redeliveries$/m);
      assert.match(text, /^## Settings$/m);
      assert.equal(definitionOf(text).scheme, name, "the source definition is of this scheme");
    });

    test(`${name}: a signed curl, unless no shell can sign for the provider, and then it says why`, () => {
      const text = page(name);
      const curl = markedBlock(text, "signed-curl", "sh");
      const why = NO_CURL.exec(text)?.[1];
      if (zenmeshHoldsSigningSecret(name)) {
        assert.equal(why, undefined, "the source's secret signs, so the page shows how");
        assert.ok(curl, "a signed curl");
        // The test runs the block with the source's own values; a page that sets them would sign with another.
        assert.match(curl, /\$INGEST_URL\b/, "sends to $INGEST_URL");
        assert.match(curl, /\$\{?SECRET\b/, "signs (or authenticates) with $SECRET");
        assert.doesNotMatch(
          curl,
          /^\s*(export\s+)?(INGEST_URL|SECRET)=/m,
          "takes INGEST_URL and SECRET as given",
        );
      } else {
        assert.equal(curl, undefined, "no curl can sign with a public key");
        assert.ok(why && why.length > 20, "the no-curl marker gives the reason");
      }
    });
  }
});

describe("the pages' sources and curl commands, run as written", () => {
  let api: TestApi;
  let projectId: string;
  let key: string;
  before(async () => {
    api = await startTestApi("pglite", { ingest: true });
    ({ projectId, key } = await api.tenant("provider pages"));
  });
  after(() => api?.close());

  for (const name of WITH_CURL) {
    test(`${name}: the page's source takes the page's curl, and stores the event typed as the provider's`, async () => {
      const text = page(name);
      const curl = markedBlock(text, "signed-curl", "sh")!;
      const definition = definitionOf(text);
      assert.equal(definition.scheme, name);
      const created = await api.request("POST", `/v1/projects/${projectId}/sources`, {
        key,
        body: definition,
      });
      assert.equal(created.status, 201, created.text);
      // Asynchronously: the ingest listener answering the curl runs in this process.
      const run = () =>
        new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
          execFile(
            "bash",
            ["--norc", "--noprofile", "-euo", "pipefail", "-c", curl],
            {
              encoding: "utf8",
              env: {
                PATH: process.env.PATH,
                INGEST_URL: created.json.ingest_url,
                SECRET: created.json.secret,
              },
              timeout: 30_000,
            },
            (err, stdout, stderr) => done({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
          );
        });
      // The ingester learns of a new source within ~100 ms here; until then it answers 404 and stores nothing.
      let r = await run();
      for (let i = 0; i < 20 && /SOURCE_NOT_FOUND/.test(r.stdout); i++) {
        await new Promise((res) => setTimeout(res, 100));
        r = await run();
      }
      assert.equal(r.status, 0, r.stderr);
      const answer = JSON.parse(r.stdout) as { id?: string };
      assert.match(answer.id ?? "", /^evt_/, r.stdout);
      const event = await api.request("GET", `/v1/projects/${projectId}/events/${answer.id}`, { key });
      assert.equal(event.status, 200, event.text);
      assert.equal(event.json.source_id, created.json.id);
      assertTypedAsProvider(name, event.json.event.type, definition.settings);
    });
  }

  for (const name of WITHOUT_CURL) {
    test(`${name}: zenmesh cannot make the source's secret, as the page says; with the provider's key its signed request is stored`, async () => {
      const definition = definitionOf(page(name));
      const { secret: _placeholder, ...withoutSecret } = definition;
      const generated = await api.request("POST", `/v1/projects/${projectId}/sources`, {
        key,
        body: withoutSecret,
      });
      assert.equal(generated.status, 400, generated.text);
      assert.equal(generated.json.error.code, "SOURCE_SECRET_REQUIRED");

      const asWritten = await api.request("POST", `/v1/projects/${projectId}/sources`, {
        key,
        body: definition,
      });
      assert.equal(asWritten.status, 400, "the page's placeholder is not a key");
      assert.equal(asWritten.json.error.code, "VALIDATION_FAILED");
      assert.deepEqual(
        asWritten.json.error.details.issues.map((i: { path: string }) => i.path),
        ["body.secret"],
      );

      // The provider's side, which no shell on the reader's machine has: a key pair whose private half signs.
      const makeKey = PROVIDER_KEY[name];
      assert.ok(makeKey, `${name}: the test knows how to make the provider's key pair`);
      const publicKey = makeKey();
      const created = await api.request("POST", `/v1/projects/${projectId}/sources`, {
        key,
        body: { ...definition, secret: publicKey },
      });
      assert.equal(created.status, 201, created.text);
      const { sample } = SCHEMES[name].provider;
      const body = Buffer.from(sample.body);
      const headers = SCHEMES[name].sign({ secret: signingKeyOf(publicKey), body, now: new Date() });
      const send = () =>
        fetch(created.json.ingest_url, {
          method: "POST",
          headers: { ...headers, "content-type": sample.contentType },
          body,
        });
      // The ingester learns of a new source within ~100 ms here, as above.
      let r = await send();
      for (let i = 0; i < 20 && r.status === 404; i++) {
        await new Promise((res) => setTimeout(res, 100));
        r = await send();
      }
      const answer = (await r.json()) as { id?: string };
      assert.equal(r.status, 202, JSON.stringify(answer));
      assert.match(answer.id ?? "", /^evt_/);
      const event = await api.request("GET", `/v1/projects/${projectId}/events/${answer.id}`, { key });
      assert.equal(event.status, 200, event.text);
      assert.equal(event.json.source_id, created.json.id);
      assertTypedAsProvider(name, event.json.event.type, definition.settings);
    });
  }
});
