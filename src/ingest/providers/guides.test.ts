/**
 * Every HMAC provider has a guide in docs/providers/<name>.md, and the guide's
 * copy-paste `curl` signs as the provider does: its shell block is run with
 * `openssl` for real and `curl` replaced by a recorder, and the recorded
 * request verifies under the scheme and is typed as the provider's event.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { SCHEMES } from "../schemes/index.ts";
import { entryOf, parseJson } from "./entry.ts";

const DOCS = join(import.meta.dirname, "..", "..", "..", "docs", "providers");
const URL = "https://hooks.example.com/e/src_guide";
const SECRET = "guide-secret-0123";

for (const scheme of Object.values(SCHEMES)) {
  const entry = entryOf(scheme);
  if (entry?.engine !== "hmac") continue;
  test(`docs/providers/${entry.name}.md: its curl signs as ${entry.title} does`, () => {
    const file = join(DOCS, `${entry.name}.md`);
    assert.ok(existsSync(file), `${file} exists`);
    const guide = readFileSync(file, "utf8");
    assert.ok(guide.includes(entry.docs), "the guide links the provider's signing documentation");
    const block = /```sh\n([\s\S]*?)```/.exec(guide)?.[1];
    assert.ok(block, "a shell block");
    const script = block.replace(/^URL=.*$/m, `URL='${URL}'`).replace(/^SECRET=.*$/m, `SECRET='${SECRET}'`);
    // curl prints what it would send, one argument per line; uuidgen may be missing where the test runs.
    const prelude = `curl() { printf '%s\\0' "$@"; }\nuuidgen() { echo 6f1c2b3a-0000-4000-8000-000000000001; }\n`;
    const run = spawnSync("bash", ["-euo", "pipefail", "-c", prelude + script], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const args = run.stdout.split("\0");
    assert.equal(args.at(-1), "");
    const headers: Record<string, string> = {};
    let body: string | undefined;
    for (let i = 0; i < args.length - 1; i++) {
      if (args[i] === "-H") {
        const h = args[++i]!;
        const colon = h.indexOf(":");
        headers[h.slice(0, colon).toLowerCase()] = h.slice(colon + 1).trim();
      } else if (args[i] === "--data-binary") body = args[++i];
    }
    assert.ok(args.includes(URL), "the request goes to the source's URL");
    assert.ok(body !== undefined);
    const bytes = Buffer.from(body);
    const r = scheme.verify({
      headers,
      body: bytes,
      secrets: [SECRET],
      settings: {},
      now: new Date(),
      toleranceSeconds: 300,
      url: URL,
    });
    assert.ok(r.ok, r.ok ? "" : r.reason);
    const facts = scheme.describe({ headers, body: bytes, json: parseJson(bytes) });
    assert.notEqual(facts.type, `${entry.facts.type.prefix}.event`, "the guide's event has a type");
  });
}
