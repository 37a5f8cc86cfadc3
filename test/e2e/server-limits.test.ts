// Slow clients and too many connections: a request trickled byte by byte is cut by the request timeout, headers
// trickled the same way by the headers timeout, and connections above the limit are closed, while the server keeps
// answering everyone else.

import net from "node:net";
import { afterAll, expect, it } from "vitest";
import { killAll, removeDir, TallyServer, tempDir } from "./helpers.js";

const dirs: string[] = [];

afterAll(() => {
  killAll();
  for (const dir of dirs) removeDir(dir);
});

async function start(env: Record<string, string>): Promise<TallyServer> {
  const dir = tempDir("limits");
  dirs.push(dir);
  return TallyServer.start({ dataDir: dir, env });
}

/** A raw TCP connection to the server: what it was sent back, and whether the server has closed it. */
class RawConnection {
  received = "";
  closed = false;
  readonly whenClosed: Promise<void>;
  private readonly socket: net.Socket;

  constructor(private readonly tally: TallyServer) {
    const { hostname, port } = new URL(tally.url);
    this.socket = net.connect(Number(port), hostname);
    this.socket.setEncoding("utf8");
    this.socket.on("data", (chunk: string) => {
      this.received += chunk;
    });
    // A reset is one way of being closed.
    this.socket.on("error", () => {});
    this.whenClosed = new Promise((resolve) =>
      this.socket.once("close", () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connecting) return resolve();
      this.socket.once("connect", () => resolve());
      this.socket.once("error", reject);
    });
  }

  write(text: string): void {
    if (!this.closed) this.socket.write(text);
  }

  /** Sends a GET and waits for the head of its answer; the status, or null if the connection closes first. */
  async get(path: string): Promise<number | null> {
    const from = this.received.length;
    this.write(`GET ${path} HTTP/1.1\r\nHost: ${new URL(this.tally.url).host}\r\n${this.authorization()}\r\n`);
    for (;;) {
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(this.received.slice(from))?.[1];
      if (status && this.received.indexOf("\r\n\r\n", from) !== -1) return Number(status);
      if (this.closed) return null;
      await sleep(10);
    }
  }

  authorization(): string {
    return `Authorization: Bearer ${this.tally.token}\r\n`;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Writes one of the bytes every interval until the server closes the connection or the bytes run out. */
async function trickle(connection: RawConnection, text: string, intervalMs: number): Promise<void> {
  for (const ch of text) {
    if (connection.closed) return;
    connection.write(ch);
    await sleep(intervalMs);
  }
}

/** Asks /healthz until the flag says stop; every answer must be a 200. */
async function keepAsking(tally: TallyServer, until: { done: boolean }): Promise<number> {
  let answered = 0;
  while (!until.done) {
    const res = await fetch(`${tally.url}/healthz`, { headers: tally.headers() });
    expect(res.status).toBe(200);
    await res.text();
    answered++;
    await sleep(200);
  }
  return answered;
}

it("cuts a request whose body is trickled, and answers others meanwhile", async () => {
  const tally = await start({ TALLY_REQUEST_TIMEOUT_SECONDS: "2", TALLY_HEADERS_TIMEOUT_SECONDS: "1" });
  const slow = new RawConnection(tally);
  await slow.connected();
  const began = Date.now();
  slow.write(
    `POST /v1/events HTTP/1.1\r\nHost: tally\r\n${slow.authorization()}` +
      "Content-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n",
  );
  const flag = { done: false };
  const others = keepAsking(tally, flag);
  // A byte every 200 ms: 200 s for the whole body, were it let through (Node's default allows 300 s).
  await Promise.race([trickle(slow, "x".repeat(1000), 200), slow.whenClosed]);
  const held = Date.now() - began;
  flag.done = true;
  expect(slow.closed).toBe(true);
  // Cut by the timeout, not by the end of the test: a generous bound, far below the body's 200 s.
  expect(held).toBeLessThan(30_000);
  expect(held).toBeGreaterThanOrEqual(1_900);
  // Either a 408 or a plain close; never an answer to the unfinished request.
  expect(slow.received === "" || slow.received.startsWith("HTTP/1.1 408")).toBe(true);
  expect(await others).toBeGreaterThan(0);
  expect((await tally.get("/healthz")).status).toBe(200);
  expect(await tally.stop()).toEqual({ code: 0, signal: null });
  // Logged as what it is, a client cut, not as a fault of the server's.
  expect(tally.output).toMatch(/request cut: the client went away or sent too slowly/);
  expect(tally.output).not.toMatch(/unexpected error/);
});

it("cuts a client that trickles its headers", async () => {
  // A request timeout far off: what cuts this client is the headers timeout.
  const tally = await start({ TALLY_REQUEST_TIMEOUT_SECONDS: "60", TALLY_HEADERS_TIMEOUT_SECONDS: "1" });
  const slow = new RawConnection(tally);
  await slow.connected();
  const began = Date.now();
  const headers = `GET /healthz HTTP/1.1\r\nHost: tally\r\nX-Padding: ${"y".repeat(500)}\r\n\r\n`;
  // A byte every 100 ms: the headers would take nearly a minute.
  await Promise.race([trickle(slow, headers, 100), slow.whenClosed]);
  expect(slow.closed).toBe(true);
  expect(Date.now() - began).toBeLessThan(20_000);
  expect(slow.received === "" || slow.received.startsWith("HTTP/1.1 408")).toBe(true);
  expect((await tally.get("/healthz")).status).toBe(200);
  expect(await tally.stop()).toEqual({ code: 0, signal: null });
});

it("closes connections above the limit and keeps serving those it holds", async () => {
  const limit = 4;
  const tally = await start({ TALLY_MAX_CONNECTIONS: String(limit), TALLY_KEEP_ALIVE_TIMEOUT_SECONDS: "60" });
  // Each answered once, so the server has taken every one of them before the next is opened.
  const held: RawConnection[] = [];
  for (let i = 0; i < limit; i++) {
    const connection = new RawConnection(tally);
    held.push(connection);
    expect(await connection.get("/healthz")).toBe(200);
  }

  const extra = new RawConnection(tally);
  await extra.connected().catch(() => {});
  expect(await extra.get("/healthz")).toBeNull();
  expect(extra.received).toBe("");
  await tally.waitForLog("at the connection limit");

  // At the limit, the connections it holds are still served.
  for (const connection of held) expect(await connection.get("/healthz")).toBe(200);

  // One closed, there is room for a new one (once the server has seen the close).
  held.pop()?.destroy();
  let status: number | null = null;
  for (let attempt = 0; attempt < 100 && status !== 200; attempt++) {
    const fresh = new RawConnection(tally);
    await fresh.connected().catch(() => {});
    status = await fresh.get("/healthz");
    fresh.destroy();
    if (status !== 200) await sleep(100);
  }
  expect(status).toBe(200);

  for (const connection of held) connection.destroy();
  expect(await tally.stop()).toEqual({ code: 0, signal: null });
});
