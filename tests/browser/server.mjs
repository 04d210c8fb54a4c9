// A static server on 127.0.0.1 for the page and the models, as a static host or the hub
// serves them (Range requests answered), counting requests and bytes per path. Also the
// faults the browser tests need: a truncated file, a connection cut mid-body, an HTML page.
//
//   node tests/browser/server.mjs [--port 8080] [--root www] [--models models]
//
// Routes: /models/* → the models folder; /test/* → tests/browser; everything else → www/.
// Test routes: /__truncate/N/PATH (the first N bytes, sent as the whole file),
//              /__cut/N/PATH (every response dropped after N bytes of its body),
//              /__cuts/A,B,…/PATH (a response that would send file byte A, B, … is dropped
//                                   just before it: a download cut at those bytes),
//              /__stall/N/PATH (no byte from N on is ever sent: a download that cannot finish),
//              /__stats (JSON of requests, bytes and Range headers per path),
//              /__reset (clears the stats and a stall set by setStall).
import { createServer } from "node:http";
import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".webmanifest": "application/manifest+json",
};

/** Starts the server; resolves to {url, port, stats, close}. With `cors`, other origins may
 *  read its files (Access-Control-Allow-Origin only, as many static hosts send it). */
export async function startServer({
  port = 0,
  root = path.join(repo, "www"),
  models = path.join(repo, "models"),
  cors = false,
} = {}) {
  const stats = new Map(); // path → {requests, bytes, ranges}
  const count = (p, bytes) => {
    const s = stats.get(p) ?? { requests: 0, bytes: 0, ranges: [] };
    s.bytes += bytes;
    stats.set(p, s);
    return s;
  };

  function resolve(urlPath) {
    const parts = urlPath.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts.some((p) => p === ".." || p.includes("\0"))) return null;
    if (parts[0] === "models") return path.join(models, ...parts.slice(1));
    if (parts[0] === "test") return path.join(here, ...parts.slice(1));
    const file = path.join(root, ...parts);
    return urlPath.endsWith("/") ? path.join(file, "index.html") : file;
  }

  // Set by setStall(n, path): no byte of that file from n on is sent (the page's own files,
  // the wasm among them, are served whole).
  let stalled = {};

  async function serveFile(req, res, urlPath, { truncate, cut, cuts, stall = stalled[urlPath] } = {}) {
    const file = resolve(urlPath);
    const stat = file && (await fs.stat(file).catch(() => null));
    if (!stat?.isFile()) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      return;
    }
    const size = truncate === undefined ? stat.size : Math.min(truncate, stat.size);
    let start = 0;
    let end = size - 1;
    const headers = {
      "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "Accept-Ranges": "bytes",
      "Cache-Control": "no-cache",
      // As the least a host that lets other sites read its files sends: no exposed headers.
      ...(cors ? { "Access-Control-Allow-Origin": "*" } : {}),
    };
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    let status = 200;
    if (range && (range[1] || range[2])) {
      if (range[1]) {
        start = Number(range[1]);
        if (range[2]) end = Math.min(Number(range[2]), size - 1);
      } else {
        start = Math.max(0, size - Number(range[2]));
      }
      if (start > end || start >= size) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
        return;
      }
      status = 206;
      headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    }
    headers["Content-Length"] = String(end - start + 1);
    res.writeHead(status, headers);
    if (req.method === "HEAD" || size === 0) {
      res.end();
      return;
    }
    let last = cut === undefined ? end : Math.min(end, start + cut - 1);
    // The first listed byte this response would send: the connection drops before it.
    const at = (cuts ?? []).filter((c) => c > start && c <= last);
    if (stall !== undefined) at.push(Math.max(stall, start));
    if (at.length) last = Math.min(last, ...at.map((c) => c - 1));
    if (last < start) {
      res.destroy();
      return;
    }
    const stream = createReadStream(file, { start, end: last });
    stream.on("data", (chunk) => count(urlPath, chunk.length));
    // A cut closes the connection once the bytes before it are sent (a reset would make the
    // client drop bytes it had not read yet, and the cut would land before the planned byte).
    stream.on("end", () => (last < end ? res.socket?.end() : res.end()));
    stream.on("error", () => res.destroy());
    stream.pipe(res, { end: false });
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    const p = url.pathname;
    try {
      if (p === "/__stats") {
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(Object.fromEntries(stats)));
        return;
      }
      if (p === "/__reset") {
        stats.clear();
        stalled = {};
        res.writeHead(204).end();
        return;
      }
      const fault = /^\/__(truncate|cut|cuts|stall)\/([\d,]+)(\/.*)$/.exec(p);
      const target = fault ? fault[3] : p;
      const s = count(target, 0);
      s.requests++;
      if (req.headers.range) s.ranges.push(req.headers.range);
      if (!fault) await serveFile(req, res, target);
      else if (fault[1] === "cuts") await serveFile(req, res, target, { cuts: fault[2].split(",").map(Number) });
      else await serveFile(req, res, target, { [fault[1]]: Number(fault[2]) });
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(`${e.message}\n`);
    }
  });
  await new Promise((ok, err) => server.once("error", err).listen(port, "127.0.0.1", ok));
  const actual = server.address().port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    stats: () => Object.fromEntries(stats),
    resetStats: () => stats.clear(),
    /** From now on, no response sends a file's byte `n` or later (undefined: all again). */
    setStall: (n, path) => (n === undefined ? (stalled = {}) : (stalled[path] = n)),
    close: () => new Promise((ok) => (server.closeAllConnections(), server.close(ok))),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const s = await startServer({
    port: Number(arg("port", 8080)),
    root: path.resolve(arg("root", path.join(repo, "www"))),
    models: path.resolve(arg("models", path.join(repo, "models"))),
  });
  console.log(`serving on ${s.url}/ (Ctrl-C stops)`);
}
