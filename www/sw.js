// The chat page's service worker: the page, its scripts, its stylesheet and the wasm module
// kept in a cache so that the page opens, and chats with a model kept in browser storage, with
// no network. Models never pass through here (they live in OPFS, see storage.js).
//
// Network first: while online every file is revalidated (a conditional request, 304 when
// unchanged) and the cache takes what the server sends, so an update of the site reaches the
// page on its next online visit; offline, the cached copy answers. The cache's name carries a
// version: a change of what this worker caches gets a new name, and the old cache is deleted.

const VERSION = 2;
const CACHE = `hearth-shell-v${VERSION}`;

/** The files of the page, relative to this worker (its scope is the page's folder). */
const SHELL = [
  "./",
  "index.html",
  "style.css",
  "app.js",
  "catalog.js",
  "chats.js",
  "hearth.js",
  "render.js",
  "vendor/markdown-it.js",
  "sources.js",
  "storage.js",
  "worker.js",
  "pkg/hearth.js",
  "pkg/hearth_bg.wasm",
  "manifest.webmanifest",
  "icon.svg",
];
const shellUrls = new Set(SHELL.map((f) => new URL(f, self.registration.scope).href));

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((f) => new Request(f, { cache: "no-cache" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(names.filter((n) => n.startsWith("hearth-shell-") && n !== CACHE).map((n) => caches.delete(n))),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  url.search = ""; // the page with ?model=… is the page
  const key = url.href;
  // The page's files only; everything else, models and their Range requests included, goes to
  // the network untouched.
  if (request.method !== "GET" || !shellUrls.has(key) || request.headers.has("range")) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(key, { cache: "no-cache", credentials: "same-origin" });
        if (response.ok) await cache.put(key, response.clone());
        return response;
      } catch (e) {
        const cached = await cache.match(key);
        if (cached) return cached;
        throw e;
      }
    })(),
  );
});
