// The object store the proxy benchmark measures against, in a process of its own: GET /o?size=N answers N bytes,
// PUT and POST read the body and throw it away. It prints its port on standard output once it listens.

import http from "node:http";
import type { AddressInfo } from "node:net";

const CHUNK = Buffer.alloc(256 * 1024, 0x61);

const server = http.createServer((req, res) => {
  if (req.method === "PUT" || req.method === "POST") {
    req.resume();
    req.on("end", () => {
      res.writeHead(201, { "content-length": 0 });
      res.end();
    });
    return;
  }
  const query = req.url?.indexOf("size=") ?? -1;
  const size = query === -1 ? 0 : Number.parseInt(req.url?.slice(query + 5) ?? "0", 10);
  res.writeHead(200, { "content-length": size });
  if (size <= CHUNK.length) {
    res.end(CHUNK.subarray(0, size));
    return;
  }
  let left = size;
  const more = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once("drain", more);
        return;
      }
    }
    res.end();
  };
  more();
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
