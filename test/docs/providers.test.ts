/**
 * docs/providers/ cannot drift from the code: the index lists exactly the
 * registered schemes, each with its page; every page names its scheme, says
 * what retries get, and its source definition and signed `curl` are run as
 * written against a real ingester (a real database, the real ingest
 * listener), which must store the event. A page whose provider cannot be
 * signed for from a shell (a private key zenmesh never holds) says so with a
 * `zenmesh:no-curl` marker instead.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
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
      assert.match(text, /^## Retries and redeliveries$/m);
      assert.match(text, /^## Settings$/m);
      assert.ok(markedBlock(text, "create-source", "json"), "a source definition");
      assert.ok(
        markedBlock(text, "signed-curl", "sh") !== undefined || /<!-- zenmesh:no-curl: .+ -->/.test(text),
        "a signed curl, or why there is none",
      );
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

  for (const name of SCHEME_NAMES) {
    test(`${name}: the page's source takes the page's curl, and stores the event`, async (t) => {
      const text = page(name);
      const curl = markedBlock(text, "signed-curl", "sh");
      if (curl === undefined) {
        t.diagnostic(`${name}: the page says why it has no curl`);
        return;
      }
      const definition = JSON.parse(markedBlock(text, "create-source", "json")!) as { scheme: string };
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
    });
  }
});
