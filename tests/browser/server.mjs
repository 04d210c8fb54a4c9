// A static server on 127.0.0.1 for the page and the models, as a static host or the hub
// serves them (Range requests answered), counting requests and bytes per path. Also the
// faults the browser tests need: a truncated file, a connection cut mid-body, an HTML page.
//
//   node tests/browser/server.mjs [--port 8080] [--root www] [--models models]
//
// Routes: /models/* → the models folder; /test/* → tests/browser; everything else → www/.
// Test routes: /__truncate/N/PATH (the first N bytes, sent as the whole file),
//              /__cut/N/PATH (the whole length announced, the connection dropped after N bytes),
//              /__stats (JSON of requests and bytes per path), /__reset (clears the stats).
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
};

/** Starts the server; resolves to {url, port, stats, close}. */
export async function startServer({
  port = 0,
  root = path.join(repo, "www"),
  models = path.join(repo, "models"),
} = {}) {
  const stats = new Map(); // path → {requests, bytes}
  const count = (p, bytes) => {
    const s = stats.get(p) ?? { requests: 0, bytes: 0 };
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

  async function serveFile(req, res, urlPath, { truncate, cut } = {}) {
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
    const last = cut === undefined ? end : Math.min(end, start + cut - 1);
    const stream = createReadStream(file, { start, end: last });
    stream.on("data", (chunk) => count(urlPath, chunk.length));
    stream.on("end", () => (last < end ? res.destroy() : res.end()));
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
        res.writeHead(204).end();
        return;
      }
      const fault = /^\/__(truncate|cut)\/(\d+)(\/.*)$/.exec(p);
      const target = fault ? fault[3] : p;
      count(target, 0).requests++;
      if (fault) await serveFile(req, res, target, { [fault[1]]: Number(fault[2]) });
      else await serveFile(req, res, target);
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
