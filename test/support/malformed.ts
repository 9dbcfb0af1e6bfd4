/**
 * Malformed requests, generated from a seed so a failing run can be replayed
 * (`ZENMESH_FUZZ_SEED`): random bytes, truncated and oversized bodies, broken
 * JSON, malformed and duplicated signature headers, header floods, invalid
 * UTF-8, path tricks, request smuggling shapes, wrong methods and content
 * types, against the ingest listener (`POST /e/{source}` of a real source)
 * and the control API (`/v1/...`, with and without a valid key).
 *
 * Nothing here may change state that later requests depend on: with the
 * valid key, destructive methods only ever name resource ids that do not
 * exist, and the real source's secret is never rotated.
 */
import { createHmac } from "node:crypto";
import { type RawRequest, rawRequest } from "./raw-http.ts";

export type Target = "ingest" | "api";

export interface Generated {
  target: Target;
  /** The kind of malformation, for the per-category counts. */
  category: string;
  req: RawRequest;
}

export interface FuzzContext {
  sourceId: string;
  sourceSecret: string;
  projectId: string;
  tenantId: string;
  apiKey: string;
}

/** mulberry32: small, fast and good enough to drive a fuzzer deterministically. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function createGenerator(ctx: FuzzContext, seed: number): () => Generated {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const bytes = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = int(0, 255);
    return b;
  };
  const hex = (n: number) =>
    bytes(Math.ceil(n / 2))
      .toString("hex")
      .slice(0, n);
  const ascii = (n: number) => {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(int(0x21, 0x7e));
    return s;
  };
  const sign = (body: Buffer | string) =>
    `sha256=${createHmac("sha256", ctx.sourceSecret).update(body).digest("hex")}`;
  // Mostly a well-formed but wrong MAC (refused by the ingester itself); sometimes the right one, so
  // the request travels on to the backend (and is refused there as a replay, or stored).
  const maybeSign = (body: Buffer | string) => (rnd() < 0.1 ? sign(body) : `sha256=${hex(64)}`);
  const ingestPath = `/e/${ctx.sourceId}`;
  const json = ["content-type", "application/json"] as [string, string];
  const gh = (sig: string): [string, string][] => [
    json,
    ["x-github-event", "push"],
    ["x-github-delivery", `fuzz-${hex(16)}`],
    ["x-hub-signature-256", sig],
  ];
  const host: [string, string] = ["host", "127.0.0.1"];

  const invalidUtf8 = [
    Buffer.from([0xff]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
    Buffer.from([0xe2, 0x82]),
    Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from([0x00]),
  ];

  const brokenJson = (): Buffer => {
    const good = JSON.stringify({ ref: "refs/heads/main", n: rnd(), repository: { full_name: "a/b" } });
    switch (int(0, 7)) {
      case 0:
        return Buffer.from(good.slice(0, int(0, good.length - 1)));
      case 1:
        return Buffer.from(`${good}${ascii(int(1, 8))}`);
      case 2:
        return Buffer.concat([Buffer.from('{"a":'), pick(invalidUtf8), Buffer.from("}")]);
      case 3:
        return Buffer.from("[".repeat(int(1, 20_000)));
      case 4:
        return Buffer.from(`{"a":1,}`);
      case 5:
        return Buffer.from(`{'single':'quotes'}`);
      case 6:
        return Buffer.from("NaN");
      default:
        return bytes(int(1, 64));
    }
  };

  /** Valid JSON that is odd in shape; signed correctly it may be stored (202). */
  const oddJson = (): Buffer => {
    const n = rnd().toString(36).slice(2);
    switch (int(0, 9)) {
      case 0:
        return Buffer.from(`[${n.length}]`);
      case 1:
        return Buffer.from(`"${n}"`);
      case 2:
        return Buffer.from(`${"[".repeat(3000)}"${n}"${"]".repeat(3000)}`);
      case 3:
        return Buffer.from(`{"__proto__":{"polluted":"${n}"},"constructor":{"prototype":{"x":1}}}`);
      case 4:
        return Buffer.from(
          `{"action":"${"a".repeat(int(100, 5000))}","repository":{"full_name":"\\u0000${n}"}}`,
        );
      case 5:
        return Buffer.concat([Buffer.from(`{"n":"${n}","s":"`), pick(invalidUtf8), Buffer.from('"}')]);
      case 6:
        return Buffer.from(`{"n":"${n}","x":1e999,"y":-0,"z":123456789012345678901234567890}`);
      case 7:
        return Buffer.from(`{"n":"${n}","a":1,"a":2}`);
      case 8:
        return Buffer.from(`\uFEFF{"n":"${n}"}`);
      default:
        return Buffer.from(`{"n":"${n}","repository":{"full_name":{"nested":true}},"action":["x"]}`);
    }
  };

  const badSignatures = (): string[] => {
    const mac = hex(64);
    return [
      "",
      " ",
      "sha256=",
      `sha256=${mac.slice(0, 63)}`,
      `sha256=${mac}0`,
      `sha1=${hex(40)}`,
      `SHA256=${mac}`,
      `sha256=${"z".repeat(64)}`,
      `sha256= ${mac}`,
      `sha256=${mac}, sha256=${mac}`,
      `sha256=${"🙂".repeat(32)}`,
      "a".repeat(int(4000, 9000)),
      ascii(int(1, 200)),
      `v1,${Buffer.from(mac, "hex").toString("base64")}`,
    ];
  };

  const ingestPathTricks = [
    "/e/../v1/me",
    `//e/${ctx.sourceId}`,
    `/e/${ctx.sourceId}/`,
    `/e/${ctx.sourceId}/..`,
    `/e/%2e%2e/v1/me`,
    `/e/${ctx.sourceId}%2F..%2F..`,
    `/e/${encodeURIComponent(ctx.sourceId)}%00`,
    `/E/${ctx.sourceId}`,
    `/e/${ctx.sourceId}?${"q=1&".repeat(200)}`,
    `/e/${ctx.sourceId}#frag`,
    `/e/${"a".repeat(65)}`,
    `/e/${"a".repeat(8000)}`,
    `/${"x/".repeat(3000)}`,
    "*",
    `http://evil.example/e/${ctx.sourceId}`,
    `/e/src_${"0".repeat(22)}`,
    "/e/",
    "/e",
    "/",
    `/e/%ff%fe`,
    `/e/\u00e9`,
    `/e/${ctx.sourceId};jsessionid=1`,
    "/e/%",
  ];

  const apiRoutes = [
    "/v1/me",
    `/v1/projects/${ctx.projectId}/sources`,
    `/v1/projects/${ctx.projectId}/sources/src_${"0".repeat(22)}`,
    `/v1/projects/${ctx.projectId}/events`,
    `/v1/projects/${ctx.projectId}/events/evt_${"0".repeat(22)}`,
    `/v1/projects/${ctx.projectId}/destinations`,
    `/v1/projects/${ctx.projectId}/destinations/dst_${"0".repeat(22)}`,
    `/v1/projects/${ctx.projectId}/subscriptions`,
    `/v1/projects/${ctx.projectId}/deliveries`,
    `/v1/projects/${ctx.projectId}/deliveries/dlv_${"0".repeat(22)}/replay`,
    `/v1/projects/${ctx.projectId}/dlq`,
    `/v1/projects/${ctx.projectId}/dlq/replay`,
    `/v1/projects/${ctx.projectId}/replay-jobs/rpj_${"0".repeat(22)}`,
    `/v1/projects/${ctx.projectId}/api-keys`,
    `/v1/projects/${ctx.projectId}/api-keys/key_${"0".repeat(22)}`,
    `/v1/tenants/${ctx.tenantId}/projects`,
    `/v1/tenants/${ctx.tenantId}/members`,
    `/v1/tenants/${ctx.tenantId}/members/usr_${"0".repeat(22)}`,
    "/v1/projects/prj_00000000000000000000000000/events",
    "/v1/auth/login",
    "/v1/auth/logout",
    "/healthz",
    "/openapi.json",
  ];
  const apiPathTricks = [
    "/v1/../v1/me",
    "//v1/me",
    "/v1//me",
    `/v1/projects/${ctx.projectId}/events/%2e%2e%2fsources`,
    `/v1/projects/${ctx.projectId}%2Fevents`,
    `/v1/projects/${encodeURIComponent("../../tenants")}/events`,
    `/v1/projects/${"p".repeat(129)}/events`,
    `/v1/projects/${"p".repeat(10_000)}/events`,
    `/v1/projects/%00/events`,
    `/v1/projects/%ff%fe/events`,
    `/v1/projects/${ctx.projectId}/events/evt_%ff`,
    `/v1/projects/${ctx.projectId}/events?limit=-1`,
    `/v1/projects/${ctx.projectId}/events?limit=1e309`,
    `/v1/projects/${ctx.projectId}/events?limit=1&limit=2`,
    `/v1/projects/${ctx.projectId}/events?after=${ascii(40)}`,
    `/v1/projects/${ctx.projectId}/events?after=${"A".repeat(4000)}`,
    `/v1/projects/${ctx.projectId}/events?source_id[]=x&source_id[a]=y`,
    `/v1/projects/${ctx.projectId}/events?type=%ff&since=yesterday&until=0`,
    `/v1/projects/${ctx.projectId}/deliveries?status=%00&destination_id=${"d".repeat(300)}`,
    `/v1/projects/${ctx.projectId}/events?${"x=1&".repeat(2000)}`,
    "/v1/me?__proto__[x]=1&constructor[prototype][y]=2",
    "/V1/ME",
    "/v1/me/",
    "/v1/me%00",
    "/v1/me#x",
    `/e/${ctx.sourceId}`,
    "*",
    "http://127.0.0.1/v1/me",
  ];
  const methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND", "FOO"];
  const badKeys = [
    "Bearer",
    "Bearer ",
    `Bearer ${ctx.apiKey.slice(0, -1)}`,
    `Bearer ${ctx.apiKey}x`,
    `Bearer ${ctx.apiKey.toUpperCase()}`,
    `bearer ${ctx.apiKey}`,
    `Bearer  ${ctx.apiKey}`,
    `Basic ${Buffer.from(`${ctx.apiKey}:`).toString("base64")}`,
    `Bearer zm_test_${ascii(int(0, 80))}`,
    `Bearer zm_live_${"a".repeat(int(100, 6000))}`,
    `Bearer ${ctx.apiKey}, Bearer ${ctx.apiKey}`,
    "Digest username=x",
    ascii(int(1, 100)),
  ];
  const apiBodies = (): Buffer => {
    switch (int(0, 9)) {
      case 0:
        return brokenJson();
      case 1:
        return Buffer.from(`{"name":"${"n".repeat(70_000)}"}`);
      case 2:
        return Buffer.from(`${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`);
      case 3:
        return Buffer.from("[]");
      case 4:
        return Buffer.from(`{"name":1,"scheme":"nope","url":"file:///etc/passwd","permissions":["*"]}`);
      case 5:
        return Buffer.from(`{"__proto__":{"admin":true},"name":"x"}`);
      case 6:
        return Buffer.concat([Buffer.from('{"name":"'), pick(invalidUtf8), Buffer.from('"}')]);
      case 7:
        return Buffer.from(`{"email":"${ascii(20)}","password":${JSON.stringify(ascii(int(0, 40)))}}`);
      case 8:
        return Buffer.from(`{"conditions":[{"path":"${"a.".repeat(100)}a","op":"eq","value":1}]}`);
      default:
        return bytes(int(0, 512));
    }
  };

  const ingest = (category: string, req: RawRequest): Generated => ({ target: "ingest", category, req });
  const api = (category: string, req: RawRequest): Generated => ({ target: "api", category, req });

  type Maker = [weight: number, make: () => Generated];
  const makers: Maker[] = [
    [
      8,
      () =>
        ingest("ingest: random bytes", {
          bytes: rawRequest("POST", ingestPath, [host, ...gh(pick(badSignatures()))], bytes(int(0, 2048))),
        }),
    ],
    [
      8,
      () => {
        const body = brokenJson();
        return ingest(
          "ingest: broken JSON, signed",
          // Invalid UTF-8 inside a JSON string decodes to U+FFFD and is then valid JSON: stored, 202.
          { bytes: rawRequest("POST", ingestPath, [host, ...gh(sign(body))], body) },
        );
      },
    ],
    [
      1,
      () => {
        const body = oddJson();
        return ingest("ingest: odd but valid JSON, signed", {
          bytes: rawRequest("POST", ingestPath, [host, ...gh(sign(body))], body),
        });
      },
    ],
    [
      8,
      () => {
        const body = Buffer.from(`{"ref":"${hex(8)}"}`);
        const sigs = badSignatures();
        const headers: [string, string][] = [host, json, ["x-github-event", "push"]];
        switch (int(0, 3)) {
          case 0:
            headers.push(["x-hub-signature-256", pick(sigs)]);
            break;
          case 1:
            // Duplicated: the right signature twice, or right and wrong (joined with ", " by the ingester).
            headers.push(
              ["x-hub-signature-256", sign(body)],
              ["x-hub-signature-256", pick([sign(body), ...sigs])],
            );
            break;
          case 2:
            headers.push(["X-Hub-Signature-256", pick(sigs)], ["x-hub-signature", `sha1=${hex(40)}`]);
            break;
          default:
            headers.push(["x-github-delivery", pick(["", "a".repeat(300), "\t", "💥"])]);
            headers.push(["x-hub-signature-256", maybeSign(Buffer.from("{}"))]);
        }
        return ingest("ingest: malformed or duplicated signature", {
          bytes: rawRequest("POST", ingestPath, headers, body),
        });
      },
    ],
    [
      5,
      () => {
        const body = Buffer.from(`{"ref":"${hex(8)}"}`);
        const declared = body.length + int(1, 500);
        const sent = body.subarray(0, int(0, body.length));
        return ingest("ingest: truncated body", {
          bytes: rawRequest("POST", ingestPath, [host, ...gh(sign(body))], sent, { contentLength: declared }),
          endAfterWrite: true,
        });
      },
    ],
    [
      3,
      () =>
        ingest("ingest: oversized body, declared", {
          bytes: rawRequest("POST", ingestPath, [host, ...gh(sign("x"))], bytes(int(0, 4096)), {
            contentLength: int(1024 * 1024 + 1, 2 ** 40),
          }),
          endAfterWrite: true,
        }),
    ],
    [
      0.05,
      () => {
        // Really sent, chunked, past the 1 MiB cap: the ingester stops reading and closes.
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const parts: Buffer[] = [];
        for (let i = 0; i < 17; i++)
          parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n"));
        parts.push(Buffer.from("0\r\n\r\n"));
        return ingest("ingest: oversized body, streamed", {
          bytes: rawRequest(
            "POST",
            ingestPath,
            [host, ...gh(sign("x")), ["transfer-encoding", "chunked"]],
            Buffer.concat(parts),
            { contentLength: false },
          ),
          oneShot: true,
        });
      },
    ],
    [
      4,
      () => {
        const headers: [string, string][] = [host, ...gh(maybeSign("{}"))];
        const n = int(90, 400);
        for (let i = 0; i < n; i++) headers.push([`x-flood-${i % 50}`, ascii(int(1, 20))]);
        return ingest("ingest: many headers", { bytes: rawRequest("POST", ingestPath, headers, "{}") });
      },
    ],
    [
      3,
      () =>
        ingest("ingest: huge header value", {
          bytes: rawRequest(
            "POST",
            ingestPath,
            [
              host,
              ...gh(maybeSign("{}")),
              [
                pick(["x-huge", "x-hub-signature-256", "content-type", "cookie"]),
                "v".repeat(int(16_000, 80_000)),
              ],
            ],
            "{}",
          ),
          oneShot: true,
        }),
    ],
    [
      4,
      () => {
        const value = Buffer.concat([
          Buffer.from("a"),
          pick(invalidUtf8),
          Buffer.from([0x80, 0xfe, int(0x80, 0xff)]),
        ]);
        const name = pick([
          "x-github-event",
          "x-github-delivery",
          "x-hub-signature-256",
          "content-type",
          "x-other",
        ]);
        const headers: [string | Buffer, string | Buffer][] = [host, ...gh(maybeSign("{}"))].filter(
          ([k]) => k !== name,
        );
        headers.push([name, value]);
        if (rnd() < 0.2) headers.push([Buffer.from([0x78, 0xff, 0x79]), "x"]);
        if (rnd() < 0.2) headers.push(["x-ctl", Buffer.from([0x61, int(0, 0x1f), 0x62])]);
        return ingest("ingest: invalid UTF-8 and control bytes in headers", {
          bytes: rawRequest("POST", ingestPath, headers, "{}"),
        });
      },
    ],
    [
      4,
      () =>
        ingest("ingest: path tricks", {
          bytes: rawRequest("POST", pick(ingestPathTricks), [host, ...gh(maybeSign("{}"))], "{}"),
        }),
    ],
    [
      3,
      () => {
        const method = pick(methods.filter((m) => m !== "POST"));
        return ingest("ingest: wrong method", {
          bytes: rawRequest(
            method,
            ingestPath,
            [host, ...gh(maybeSign("{}"))],
            method === "GET" || method === "HEAD" ? "" : "{}",
          ),
          head: method === "HEAD",
        });
      },
    ],
    [
      4,
      () => {
        const type = pick([
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/json; charset=iso-8859-1",
          "APPLICATION/JSON",
          "application/json, application/json",
          "application/cloudevents+json",
          "application/cloudevents-batch+json",
          "application/",
          "json",
          ";",
          "application/json\u00ff",
          "",
        ]);
        const headers: [string, string][] = [
          host,
          ...gh(maybeSign("{}")).filter(([k]) => k !== "content-type"),
        ];
        if (type !== "") headers.push(["content-type", type]);
        if (rnd() < 0.2) headers.push(["content-type", "application/json"]);
        return ingest("ingest: wrong or repeated content type", {
          bytes: rawRequest("POST", ingestPath, headers, "{}"),
        });
      },
    ],
    [
      3,
      () => {
        const body = Buffer.from('{"ref":"x"}');
        const variants: [string, string][][] = [
          [
            ["transfer-encoding", "chunked"],
            ["content-length", "5"],
          ],
          [["transfer-encoding", "gzip, chunked"]],
          [["transfer-encoding", "chunked, gzip"]],
          [["transfer-encoding", "identity"]],
          [["transfer-encoding", " chunked"]],
          [
            ["content-length", "5"],
            ["content-length", "6"],
          ],
          [["content-length", "-1"]],
          [["content-length", "0x10"]],
          [["content-length", `${"9".repeat(30)}`]],
        ];
        const extra = pick(variants);
        const chunked = extra.some(([k, v]) => k === "transfer-encoding" && /chunked/.test(v));
        const payload = chunked
          ? Buffer.from(
              pick([
                "zz\r\nabc\r\n0\r\n\r\n",
                `b\r\n${body.toString()}\r\n0\r\n\r\n`,
                "ffffffffffffffff\r\nx",
                "1;ext=\u0001\r\nx\r\n0\r\n\r\n",
              ]),
            )
          : body;
        return ingest("ingest: framing and smuggling shapes", {
          bytes: rawRequest("POST", ingestPath, [host, ...gh(sign(body)), ...extra], payload, {
            contentLength: false,
          }),
          endAfterWrite: true,
        });
      },
    ],
    [
      3,
      () => {
        const line = pick([
          () => bytes(int(1, 300)),
          () => Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
          () => Buffer.from(`POST ${ingestPath} HTTP/9.9\r\nhost: x\r\n\r\n`),
          () => Buffer.from(`post ${ingestPath} HTTP/1.1\r\nhost: x\r\n\r\n`),
          () => Buffer.from(`POST ${ingestPath}\r\n\r\n`),
          () => Buffer.from(`POST  ${ingestPath}  HTTP/1.1\r\n\r\n`),
          () => Buffer.from(`POST ${ingestPath} HTTP/1.1\nhost: x\n\n`),
          () => Buffer.from(`POST ${ingestPath} HTTP/1.1\r\nno-colon-header\r\n\r\n`),
          () => Buffer.from(`POST ${ingestPath} HTTP/1.1\r\n folded: header\r\n\r\n`),
          () => Buffer.from(`\r\n\r\n\r\nPOST ${ingestPath} HTTP/1.1\r\n\r\n`),
          () => Buffer.from(`POST ${ingestPath} HTTP/1.0\r\ncontent-length: 2\r\n\r\n{}`),
          () => Buffer.concat([Buffer.from(`POST /e/`), pick(invalidUtf8), Buffer.from(" HTTP/1.1\r\n\r\n")]),
        ])();
        return ingest("ingest: garbage request line", { bytes: line, endAfterWrite: true });
      },
    ],
    [
      3,
      () =>
        ingest("ingest: unknown source", {
          bytes: rawRequest(
            "POST",
            `/e/src_${ascii(int(1, 40)).replace(/[/?#%]/g, "x")}`,
            [host, ...gh(maybeSign("{}"))],
            "{}",
          ),
        }),
    ],
    // ---- control API ----
    [
      5,
      () => {
        const method = pick(methods);
        return api("api: no key", {
          bytes: rawRequest(
            method,
            pick(apiRoutes),
            [host, json],
            method === "GET" || method === "HEAD" ? "" : apiBodies(),
          ),
          head: method === "HEAD",
        });
      },
    ],
    [
      3,
      () => {
        const method = pick(["GET", "POST", "PATCH", "DELETE"]);
        return api("api: bad key", {
          bytes: rawRequest(
            method,
            pick(apiRoutes),
            [host, json, ["authorization", pick(badKeys)]],
            method === "GET" ? "" : apiBodies(),
          ),
        });
      },
    ],
    [
      4,
      () => {
        const route = pick(apiRoutes.filter((r) => !r.startsWith("/v1/auth")));
        const method = pick(["POST", "PATCH", "PUT"]);
        const ct = pick([
          "application/json",
          "application/json",
          "text/plain",
          "application/x-www-form-urlencoded",
          "application/json; charset=utf-16",
          "",
        ]);
        const headers: [string, string][] = [host, ["authorization", `Bearer ${ctx.apiKey}`]];
        if (ct) headers.push(["content-type", ct]);
        return api("api: valid key, malformed body", {
          bytes: rawRequest(method, route, headers, apiBodies()),
        });
      },
    ],
    [
      3,
      () =>
        api("api: valid key, path tricks and bad parameters", {
          bytes: rawRequest(pick(["GET", "GET", "DELETE"]), pick(apiPathTricks), [
            host,
            ["authorization", `Bearer ${ctx.apiKey}`],
          ]),
        }),
    ],
    [
      3,
      () => {
        const headers: [string | Buffer, string | Buffer][] = [host];
        const auth = rnd() < 0.5 ? `Bearer ${ctx.apiKey}` : pick(badKeys);
        switch (int(0, 3)) {
          case 0:
            for (let i = 0; i < int(100, 300); i++) headers.push([`x-f${i}`, ascii(int(1, 30))]);
            headers.push(["authorization", auth]);
            break;
          case 1:
            headers.push(["authorization", auth], ["x-huge", "h".repeat(int(16_000, 70_000))]);
            break;
          case 2:
            headers.push(["authorization", auth], ["authorization", pick(badKeys)]);
            break;
          default:
            headers.push([
              "authorization",
              Buffer.concat([Buffer.from("Bearer "), pick(invalidUtf8), Buffer.from([0xfe])]),
            ]);
            headers.push([
              "cookie",
              Buffer.concat([
                Buffer.from("zm_session="),
                bytes(int(1, 100)).filter((b) => b > 0x20 && b !== 0x3b && b !== 0x7f),
              ]),
            ]);
        }
        return api("api: header floods, duplicated and invalid auth", {
          bytes: rawRequest("GET", pick(apiRoutes), headers),
          oneShot: true,
        });
      },
    ],
    [
      2,
      () => {
        const body = apiBodies();
        return api("api: truncated body and framing", {
          bytes: rawRequest(
            "POST",
            pick(apiRoutes),
            [
              host,
              json,
              ["authorization", `Bearer ${ctx.apiKey}`],
              ...(rnd() < 0.5 ? [["transfer-encoding", "chunked"] as [string, string]] : []),
            ],
            body.subarray(0, int(0, body.length)),
            { contentLength: rnd() < 0.5 ? body.length + int(1, 100) : int(70_000, 2 ** 40) },
          ),
          endAfterWrite: true,
        });
      },
    ],
    [
      2,
      () => {
        const line = pick([
          () => bytes(int(1, 300)),
          () => Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
          () =>
            Buffer.from(
              "GET /v1/me HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
          () => Buffer.from("GET /v1/me HTTP/1.1\r\n\r\n"),
          () =>
            Buffer.concat([
              Buffer.from("GET /v1/"),
              pick(invalidUtf8),
              Buffer.from(" HTTP/1.1\r\nhost: x\r\n\r\n"),
            ]),
        ])();
        return api("api: garbage request line", { bytes: line, endAfterWrite: true });
      },
    ],
  ];
  const total = makers.reduce((s, [w]) => s + w, 0);
  return () => {
    let x = rnd() * total;
    for (const [w, make] of makers) {
      x -= w;
      if (x <= 0) return make();
    }
    return makers[0]![1]();
  };
}
