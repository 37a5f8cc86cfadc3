// The metering proxy: a reverse proxy in front of an object store that counts, per account, requests by method and
// the body bytes it actually read from clients and actually sent them. Bodies stream through in both directions with
// backpressure (a reader that stops stops the writer), so an upload of any size passes in constant memory.

import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { AppError } from "../domain/errors.js";
import type { Logger } from "../log/logger.js";
import type { Attribute } from "./attribution.js";
import type { TrafficTally } from "./traffic-tally.js";

export interface ProxyOptions {
  /** http(s)://host:port of the object store; requests keep their path and Host header (S3 signs both). */
  readonly upstream: URL;
  readonly host: string;
  readonly port: number;
  readonly attribute: Attribute;
  readonly tally: TrafficTally;
  readonly logger: Logger;
  /** A connection, to the client or the upstream, idle for this long is closed. */
  readonly idleTimeoutMs: number;
}

export interface RunningProxy {
  readonly url: string;
  /** Stops accepting connections and waits for the requests in flight, cutting those still running after graceMs. */
  close(graceMs: number): Promise<void>;
}

/** Headers that belong to one connection, not to the request: never forwarded (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

export async function startMeteringProxy(options: ProxyOptions): Promise<RunningProxy> {
  const { upstream, attribute, tally, logger } = options;
  checkUpstream(upstream);
  const transport = upstream.protocol === "https:" ? https : http;
  const agent = new transport.Agent({ keepAlive: true, maxFreeSockets: 256, timeout: options.idleTimeoutMs });
  const target = {
    hostname: upstream.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: upstream.port === "" ? (upstream.protocol === "https:" ? 443 : 80) : Number(upstream.port),
  };

  let closing = false;
  const forward = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    // While stopping, each connection is closed after its answer, so kept-alive clients go elsewhere.
    if (closing) res.shouldKeepAlive = false;
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const account = attribute(url, req.headers);
    tally.request(account, method);
    const headers = forwardedHeaders(req, expectContinue);
    const hasBody = req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    let answered = false;
    let clientGone = false;
    let current: http.ClientRequest | undefined;

    const send = (retried: boolean): http.ClientRequest => {
      const out = transport.request({ ...target, method, path: url, headers, agent, setHost: false });
      current = out;
      out.setTimeout(options.idleTimeoutMs, () => out.destroy(new Error("the upstream was idle too long")));
      if (expectContinue) out.once("continue", () => res.writeContinue());
      out.once("response", (upstreamRes) => {
        answered = true;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, responseHeaders(upstreamRes));
        upstreamRes.on("data", (chunk: Buffer) => {
          const n = chunk.length;
          // Counted once the chunk has gone to the client's socket: bytes a client that went away never got are not.
          const more = res.write(chunk, (error) => {
            if (!error) tally.bytesOut(account, n);
          });
          if (!more) upstreamRes.pause();
        });
        res.on("drain", () => upstreamRes.resume());
        upstreamRes.once("end", () => res.end());
        // `on`, not `once`: a second error with no listener would end the process.
        upstreamRes.on("error", () => res.destroy());
        upstreamRes.once("aborted", () => res.destroy());
      });
      let failed = false;
      out.on("error", (error: NodeJS.ErrnoException) => {
        if (failed) return;
        failed = true;
        // A kept-alive connection the upstream closed just as it was reused: a request without a body is sent again.
        if (!answered && !retried && !hasBody && out.reusedSocket && error.code === "ECONNRESET") {
          send(true).end();
          return;
        }
        if (answered || res.headersSent || clientGone) {
          res.destroy();
          return;
        }
        logger.warn({ err: error, method, upstream: upstream.origin }, `upstream failed: ${error.message}`);
        res.writeHead(502, { "content-type": "text/plain; charset=utf-8", connection: "close" });
        res.end("bad gateway: the object store did not answer\n");
        req.resume();
      });
      return out;
    };

    const out = send(false);
    req.on("error", () => {});
    res.on("error", () => {});
    if (hasBody) {
      req.on("data", (chunk: Buffer) => {
        tally.bytesIn(account, chunk.length);
        if (!out.write(chunk)) req.pause();
      });
      out.on("drain", () => req.resume());
      req.once("end", () => out.end());
    } else {
      out.end();
    }
    // The client went away before its answer was complete: the upstream exchange is cut too.
    res.once("close", () => {
      if (!res.writableFinished) {
        clientGone = true;
        current?.destroy();
      }
    });
  };

  const server = http.createServer(
    {
      // Uploads of any size: no limit on how long a whole request may take; idle connections are closed instead.
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => forward(req, res, false),
  );
  server.timeout = options.idleTimeoutMs;
  server.on("checkContinue", (req, res) => forward(req, res, true));
  server.on("clientError", (error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy(error);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "EADDRINUSE" ? "the address is in use" : (error as Error).message;
    throw new AppError("UNAVAILABLE", `cannot listen on ${options.host}:${options.port}: ${reason}`);
  }
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    close: (graceMs) => {
      stopped ??= new Promise<void>((resolve) => {
        closing = true;
        const cut = setTimeout(() => server.closeAllConnections(), graceMs);
        // A connection becomes idle when its answer is done: close it then rather than wait for its next request.
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        server.close(() => {
          clearTimeout(cut);
          clearInterval(idle);
          agent.destroy();
          resolve();
        });
        server.closeIdleConnections();
      });
      return stopped;
    },
  };
}

/** The proxy forwards to a server, not a path on it: requests keep their own path, which S3 signs. */
export function checkUpstream(upstream: URL): void {
  if (upstream.protocol !== "http:" && upstream.protocol !== "https:") {
    throw new AppError("VALIDATION", `--upstream must be an http:// or https:// URL, not ${upstream.protocol}`);
  }
  if (upstream.pathname !== "/" || upstream.search !== "") {
    throw new AppError("VALIDATION", "--upstream must name a server only (http://HOST:PORT): requests keep their path");
  }
}

function forwardedHeaders(req: IncomingMessage, expectContinue: boolean): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const named = connectionHeaders(req.headers.connection);
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower) || (lower === "expect" && !expectContinue)) continue;
    const value = raw[i + 1] as string;
    const had = headers[lower];
    headers[lower] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  const client = req.socket.remoteAddress;
  if (client !== undefined) {
    const prior = headers["x-forwarded-for"];
    headers["x-forwarded-for"] = prior === undefined ? client : `${[prior].flat().join(", ")}, ${client}`;
  }
  return headers;
}

function responseHeaders(res: IncomingMessage): string[] {
  const named = connectionHeaders(res.headers.connection);
  const out: string[] = [];
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

/** The headers a Connection header names as belonging to the connection. */
function connectionHeaders(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined || connection === "") return undefined;
  const names = connection
    .toLowerCase()
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "close" && n !== "keep-alive" && n !== "");
  return names.length === 0 ? undefined : new Set(names);
}
