/**
 * HTTP/1.1 over raw `net` sockets, for requests fetch refuses to send
 * (broken framing, duplicated or oversized headers, invalid bytes, path
 * tricks). A connection is kept alive across requests while the server keeps
 * it; each exchange reads exactly one response (Content-Length or chunked
 * framing) or ends when the server closes.
 */
import { connect, type Socket } from "node:net";

export interface RawResponse {
  /** 0 when the server closed without answering (a legitimate answer to garbage). */
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The server closed the connection after (or instead of) this response. */
  closed: boolean;
}

export interface RawRequest {
  bytes: Buffer;
  /** Half-close after writing (truncated bodies): the server sees the client stop sending. */
  endAfterWrite?: boolean;
  /** Drop the connection after this exchange whatever the server says. */
  oneShot?: boolean;
  /** A HEAD request: the answer has headers only, whatever its Content-Length says. */
  head?: boolean;
}

const HEADER_END = Buffer.from("\r\n\r\n");

function parseHead(head: string): { status: number; headers: Record<string, string> } | undefined {
  const lines = head.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers };
}

/** The length of a complete chunked body at the start of `buf`, or -1 while incomplete. */
function chunkedLength(buf: Buffer): number {
  let at = 0;
  for (let i = 0; i < 10_000; i++) {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) return -1;
    const size = Number.parseInt(buf.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isFinite(size)) return buf.length;
    at = eol + 2 + size + 2;
    if (size === 0) return at <= buf.length ? at : -1;
    if (at > buf.length) return -1;
  }
  return buf.length;
}

export class RawConnection {
  private socket: Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private closed = true;
  private wake: (() => void) | undefined;
  /** How many TCP connections this client opened. */
  opened = 0;

  private readonly port: number;
  private readonly host: string;

  constructor(port: number, host = "127.0.0.1") {
    this.port = port;
    this.host = host;
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = connect(this.port, this.host);
      this.opened++;
      this.buf = Buffer.alloc(0);
      this.closed = false;
      s.setNoDelay(true);
      // Events of a socket already dropped must not touch its successor.
      s.on("data", (d: Buffer) => {
        if (this.socket !== s) return;
        this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
        this.wake?.();
      });
      const gone = () => {
        if (this.socket !== s) return;
        this.closed = true;
        this.wake?.();
      };
      s.on("close", gone);
      s.on("end", gone);
      s.on("error", () => gone());
      s.once("connect", () => resolve());
      s.once("error", (err) => reject(err));
      this.socket = s;
    });
  }

  private waitForData(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.wake = undefined;
          resolve();
        },
        Math.max(0, deadline - Date.now()),
      );
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /**
   * Sends one request and reads one response; throws only when nothing came back before `timeoutMs`.
   * A kept-alive connection the server closed before reading the request is retried once on a fresh
   * one, as HTTP clients do: that close answers the previous request, not this one.
   */
  async exchange(req: RawRequest, timeoutMs = 15_000): Promise<RawResponse> {
    const reused = !this.closed && this.socket !== undefined;
    const r = await this.once(req, timeoutMs);
    if (reused && r.status === 0 && !req.endAfterWrite) {
      this.retried++;
      return this.once(req, timeoutMs);
    }
    return r;
  }

  /** How many requests were sent again after a kept-alive connection closed under them. */
  retried = 0;

  private async once(req: RawRequest, timeoutMs: number): Promise<RawResponse> {
    if (this.closed || !this.socket) await this.open();
    const s = this.socket!;
    s.write(req.bytes);
    if (req.endAfterWrite) s.end();
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const end = this.buf.indexOf(HEADER_END);
        if (end >= 0) {
          const head = parseHead(this.buf.subarray(0, end).toString("latin1"));
          if (!head) {
            this.drop();
            return { status: -1, headers: {}, body: this.buf, closed: true };
          }
          // 1xx interim answers (100 Continue) precede the real one.
          if (head.status >= 100 && head.status < 200) {
            this.buf = this.buf.subarray(end + 4);
            continue;
          }
          const rest = this.buf.subarray(end + 4);
          const cl = head.headers["content-length"];
          const chunked = /chunked/i.test(head.headers["transfer-encoding"] ?? "");
          let bodyLen = -1;
          if (req.head || head.status === 204 || head.status === 304) bodyLen = 0;
          else if (cl !== undefined) bodyLen = Number(cl) <= rest.length ? Number(cl) : -1;
          else if (chunked) bodyLen = chunkedLength(rest);
          else if (this.closed) bodyLen = rest.length;
          if (bodyLen >= 0) {
            const body = rest.subarray(0, bodyLen);
            this.buf = rest.subarray(bodyLen);
            const close = this.closed || /close/i.test(head.headers.connection ?? "");
            if (close || req.oneShot || req.endAfterWrite) this.drop();
            return { status: head.status, headers: head.headers, body, closed: close };
          }
        }
        if (this.closed) {
          this.drop();
          return { status: 0, headers: {}, body: Buffer.alloc(0), closed: true };
        }
        if (Date.now() >= deadline) {
          this.drop();
          throw new Error(
            `no response within ${timeoutMs} ms to ${req.bytes.subarray(0, 80).toString("latin1")}`,
          );
        }
        await this.waitForData(deadline);
      }
    } catch (err) {
      this.drop();
      throw err;
    }
  }

  drop(): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.closed = true;
    this.buf = Buffer.alloc(0);
  }
}

/** Builds request bytes: a request line, header lines as given (duplicates and all), and a body. */
export function rawRequest(
  method: string,
  path: string | Buffer,
  headers: [string | Buffer, string | Buffer][],
  body: Buffer | string = Buffer.alloc(0),
  opts: { contentLength?: number | false; version?: string } = {},
): Buffer {
  const parts: Buffer[] = [
    Buffer.from(`${method} `, "latin1"),
    Buffer.isBuffer(path) ? path : Buffer.from(path, "latin1"),
    Buffer.from(` ${opts.version ?? "HTTP/1.1"}\r\n`, "latin1"),
  ];
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  for (const [k, v] of headers) {
    parts.push(
      Buffer.isBuffer(k) ? k : Buffer.from(k, "latin1"),
      Buffer.from(": "),
      Buffer.isBuffer(v) ? v : Buffer.from(v, "utf8"),
      Buffer.from("\r\n"),
    );
  }
  if (opts.contentLength !== false) {
    parts.push(Buffer.from(`content-length: ${opts.contentLength ?? b.length}\r\n`));
  }
  parts.push(Buffer.from("\r\n"), b);
  return Buffer.concat(parts);
}
