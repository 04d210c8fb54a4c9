// The model sources of the engine's worker. Each is an object `{ size, read() }` whose read()
// resolves to the next Uint8Array of the file, or null at its end (the wasm side's JsSource);
// some add `finish()` (read what the engine left, check, and keep) and `close()`.
//
// - urlSource:      a streamed HTTP response, nothing kept (storage off or missing)
// - blobSource:     a local File/Blob, a slice at a time (never uploaded anywhere)
// - storedSource:   a complete model in browser storage, checked against its SHA-256
// - downloadSource: a download into browser storage by HTTP Range requests, resumed where a
//                   cut connection or a closed page left it, handed to the engine as it comes
// - headerSource:   the first bytes of a URL by small Range requests (for inspect)
import { deleteModel, openData, readRecord, writeRecord } from "./storage.js";

const READ_CHUNK = 4 << 20; // bytes read from a Blob or from storage at a time
const RANGE_CHUNK = 32 << 20; // bytes asked of the server per Range request
const HEADER_PIECE = 512 << 10; // bytes per Range request while reading a header
const RETRIES = 5; // failed attempts in a row (no byte gained) before a download gives up
const FLUSH_EVERY = 16 << 20; // bytes written between flushes to storage

/** An Error with a code (see HearthError in hearth.js). */
export function fail(code, message, extra = {}) {
  return Object.assign(new Error(message), { code }, extra);
}

export const aborted = () => fail("aborted", "loading was aborted");

const MB = (n) => `${(n / 1e6).toFixed(1)} MB`;

/** fetch() with hearth's network errors: unreachable, refused by CORS, or an HTTP error. */
async function get(url, { signal, headers = {}, method = "GET" } = {}) {
  let response;
  try {
    response = await fetch(url, { signal, headers, method, cache: "no-store" });
  } catch (e) {
    if (signal?.aborted) throw aborted();
    throw fail(
      "network",
      `could not download ${url}: the server is unreachable, or it does not let this page read the file ` +
        `(a model on another site must be served with CORS headers, Access-Control-Allow-Origin) (${e.message})`,
      { reason: "the server did not answer" },
    );
  }
  if (!response.ok && response.status !== 416) {
    const status = `HTTP ${response.status} ${response.statusText}`.trim();
    throw fail("network", `could not download ${url}: the server answered ${status}`, { reason: status });
  }
  return response;
}

/** {start, end, total} of a response to a Range request that started at `asked` (total null
 *  when unknown). Another origin may not expose Content-Range to the page: a 206 then covers
 *  `asked` on, for its Content-Length (a CORS-safelisted header). */
function contentRange(response, asked) {
  const header = response.headers.get("Content-Range") ?? "";
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header);
  if (m) return { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? null : Number(m[3]) };
  const unsatisfied = /^bytes \*\/(\d+)$/.exec(header);
  if (unsatisfied) return { start: null, end: null, total: Number(unsatisfied[1]) };
  const length = Number(response.headers.get("Content-Length"));
  if (response.status === 206 && length > 0) return { start: asked, end: asked + length - 1, total: null };
  return null;
}

/** The size of the file a response sends whole (not compressed), or null. */
function wholeLength(response) {
  const length = Number(response.headers.get("Content-Length"));
  return !response.headers.get("Content-Encoding") && length > 0 ? length : null;
}

/** A streamed HTTP response; nothing is kept. */
export async function urlSource(url, signal, onBytes) {
  const response = await get(url, { signal });
  const size = wholeLength(response);
  const reader = response.body.getReader();
  let received = 0;
  return {
    size,
    async read() {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        if (signal.aborted) throw aborted();
        throw fail("network", `the download of ${url} broke off after ${received} bytes (${e.message}); try again`);
      }
      if (r.done) return null;
      received += r.value.length;
      onBytes(received, size, received);
      return r.value;
    },
    close: () => reader.cancel().catch(() => {}),
  };
}

/** A local File or Blob, read a slice at a time. */
export function blobSource(blob, signal, onBytes = () => {}) {
  let pos = 0;
  return {
    size: blob.size,
    async read() {
      if (signal.aborted) throw aborted();
      if (pos >= blob.size) return null;
      const end = Math.min(pos + READ_CHUNK, blob.size);
      let bytes;
      try {
        bytes = new Uint8Array(await blob.slice(pos, end).arrayBuffer());
      } catch (e) {
        throw fail("network", `could not read the file (${e.message}); choose it again`);
      }
      pos = end;
      onBytes(pos, blob.size, pos);
      return bytes;
    },
  };
}

/** A complete stored model, or null when its data is missing or of the wrong size. With a
 *  `hasher`, every byte is hashed and finish() compares the digest with the record's. */
export async function storedSource(id, record, { signal, hasher = null }) {
  let handle;
  try {
    handle = await openData(id, { readOnly: true });
  } catch (e) {
    if (e.code) throw e;
    return null;
  }
  const size = handle.getSize();
  if (size !== record.size) {
    handle.close();
    return null;
  }
  let pos = 0;
  let open = true;
  const close = () => {
    if (open) handle.close();
    open = false;
  };
  const read = async () => {
    if (signal.aborted) throw aborted();
    if (pos >= size) return null;
    const bytes = new Uint8Array(Math.min(READ_CHUNK, size - pos));
    const n = handle.read(bytes, { at: pos });
    if (n !== bytes.length) throw fail("bad-model", `stored model ${id} could not be read at byte ${pos}`);
    hasher?.update(bytes);
    pos += n;
    return bytes;
  };
  return {
    size,
    id,
    url: record.url,
    fromStorage: true,
    read,
    async finish() {
      while (await read());
      close();
      const digest = hasher?.finish();
      if (digest && record.sha256 && digest !== record.sha256) {
        throw fail("bad-model", `stored model ${id} is damaged (its SHA-256 changed)`, { corrupt: true });
      }
    },
    close,
  };
}

/** Free bytes of this origin's storage quota, or null when the browser does not say;
 *  `quota` lowers the browser's figure (a test hook: browsers cannot be made to report less). */
async function freeBytes(quota) {
  try {
    const e = await navigator.storage.estimate();
    return Math.min(e.quota, quota ?? Infinity) - e.usage;
  } catch {
    return null;
  }
}

const quotaError = (need, free) =>
  fail(
    "quota",
    `the model needs ${MB(need)} of browser storage but only ${MB(free)} is free: ` +
      `delete stored models or free disk space, then load again`,
    { needed: need, available: free },
  );

/**
 * Downloads `url` into storage entry `id`, handing each byte to the engine as it arrives.
 * A partial entry (`record`) is resumed: its stored prefix is read back (and hashed) first,
 * then the rest is asked for with Range requests, RANGE_CHUNK at a time, each retried from
 * where it broke off. The size must be known and fit the storage quota before anything is
 * written. finish() checks the size and SHA-256 (`sha256` when given) and marks the entry
 * complete.
 */
export async function downloadSource(url, id, record, { sha256, hasher, signal, onBytes, quota }) {
  let have = 0; // stored bytes the engine is handed before the network's
  if (record) {
    try {
      const h = await openData(id);
      have = h.getSize();
      h.close();
    } catch (e) {
      if (e.code) throw e;
      have = 0;
    }
  }
  // What identifies this version of the file (when the server says, and lets the page read
  // it): a resumed download whose validator changed starts over. Compared here rather than
  // sent as If-Range, which is no CORS-safelisted header (it would need a preflight).
  const validator = (r) => r.headers.get("ETag") ?? r.headers.get("Last-Modified");
  const changed = (r) => record?.validator && validator(r) && validator(r) !== record.validator;
  const ask = (start, length = RANGE_CHUNK) =>
    get(url, { signal, headers: { Range: `bytes=${start}-${start + length - 1}` } });

  // The first request is small: its answer says the size, and the quota is checked before
  // more than a few bytes of the model travel.
  let response = await ask(have, HEADER_PIECE);
  let range = contentRange(response, have);
  if (have > 0 && response.status !== 416 && changed(response)) {
    response.body?.cancel();
    have = 0;
    response = await ask(0, HEADER_PIECE);
    range = contentRange(response, 0);
  }
  if (response.status === 416 && !(have > 0 && range?.total === have)) {
    // Asked past the end: what is stored is not a prefix of this file.
    have = 0;
    response = await ask(0, HEADER_PIECE);
    range = contentRange(response, 0);
  }
  if (response.status === 200)
    have = 0; // a server without ranges: from the start
  else if (response.status === 206 && range?.start !== have) {
    response.body?.cancel();
    throw fail("network", `could not download ${url}: the server sent bytes from ${range?.start}, not ${have}`);
  }
  let size = range?.total ?? (response.status === 200 ? wholeLength(response) : null);
  if (size === null) {
    const head = await get(url, { signal, method: "HEAD" });
    size = wholeLength(head);
  }
  if (size === null) {
    response.body?.cancel();
    throw fail("network", `could not download ${url}: the server does not say how large the file is`);
  }
  const need = size - have;
  const free = await freeBytes(quota);
  if (free !== null && need > free) {
    response.body?.cancel();
    throw quotaError(need, free);
  }
  const handle = await openData(id, { create: true });
  handle.truncate(have);
  record = {
    url,
    size,
    validator: validator(response) ?? record?.validator ?? null,
    expectedSha256: sha256 ?? null,
    complete: false,
    startedAt: record?.startedAt ?? new Date().toISOString(),
  };
  await writeRecord(id, record);

  let pos = 0; // bytes handed to the engine
  let reader = response.status === 416 ? null : response.body.getReader();
  let chunkEnd = range?.end ?? size - 1; // last byte the current response should send
  let failures = 0;
  let unflushed = 0;
  let fresh = 0; // bytes downloaded by this load
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    reader?.cancel().catch(() => {});
    handle.flush();
    handle.close();
  };

  async function nextResponse() {
    const r = await ask(pos);
    const got = contentRange(r, pos);
    if (r.status !== 206 || got?.start !== pos || changed(r)) {
      r.body?.cancel();
      throw fail("network", `${url} changed on the server during the download; load it again`, { changed: true });
    }
    chunkEnd = got.end;
    return r.body.getReader();
  }

  async function read() {
    if (pos < have) {
      const bytes = new Uint8Array(Math.min(READ_CHUNK, have - pos));
      handle.read(bytes, { at: pos });
      hasher.update(bytes);
      pos += bytes.length;
      return bytes;
    }
    for (;;) {
      if (signal.aborted) throw aborted();
      if (pos >= size) return null;
      let r;
      try {
        reader ??= await nextResponse();
        r = await reader.read();
      } catch (e) {
        if (signal.aborted) throw aborted();
        if (e.code && e.code !== "network") throw e;
        if (e.changed) throw e;
        r = { cut: e };
      }
      if (r.value?.length) {
        const bytes = r.value.subarray(0, Math.min(r.value.length, size - pos));
        let written;
        try {
          written = handle.write(bytes, { at: pos });
        } catch (e) {
          if (e.name !== "QuotaExceededError") throw e;
        }
        if (written !== bytes.length) {
          // The estimate allowed it, the browser did not (Chromium reports a short write
          // rather than QuotaExceededError): nothing partial is kept.
          close();
          await deleteModel(id);
          throw fail(
            "quota",
            `browser storage is full: the model needs ${MB(size)} and the browser refused to store more ` +
              `after ${MB(pos)}: delete stored models or free disk space, then load again`,
          );
        }
        hasher.update(bytes);
        pos += bytes.length;
        fresh += bytes.length;
        unflushed += bytes.length;
        if (unflushed >= FLUSH_EVERY) {
          handle.flush();
          unflushed = 0;
        }
        failures = 0;
        onBytes(pos, size, fresh);
        return bytes;
      }
      // The response ended: the chunk is done, or the connection was cut before its end.
      reader = null;
      if (r.cut || pos <= chunkEnd) {
        failures++;
        if (failures > RETRIES) {
          const why = r.cut?.reason ?? "the connection broke off";
          throw fail(
            "network",
            `the download of ${url} stopped at byte ${pos} of ${size} (${why}) and did not resume ` +
              `after ${RETRIES} tries; load it again to continue from there`,
          );
        }
        await new Promise((ok) => setTimeout(ok, 250 * 2 ** (failures - 1)));
      }
    }
  }

  return {
    size,
    id,
    url,
    fromStorage: false,
    read,
    async finish() {
      while (await read());
      close();
      const digest = hasher.finish();
      if (sha256 && digest !== sha256.toLowerCase()) {
        await deleteModel(id);
        throw fail(
          "network",
          `the download of ${url} is damaged: its SHA-256 is ${digest}, not ${sha256}; it was discarded, load it again`,
        );
      }
      await writeRecord(id, {
        ...record,
        complete: true,
        sha256: digest,
        bytes: pos,
        storedAt: new Date().toISOString(),
      });
    },
    close,
  };
}

/** The first bytes of `url`, HEADER_PIECE at a time by Range requests, for reading a header
 *  without downloading the file (a server without ranges streams it, and is cut off). */
export async function headerSource(url, signal) {
  const first = await get(url, { signal, headers: { Range: `bytes=0-${HEADER_PIECE - 1}` } });
  if (first.status !== 206) {
    const s = await urlSource(url, signal, () => {});
    first.body?.cancel();
    return s;
  }
  const size = contentRange(first, 0)?.total ?? null;
  let pending = first;
  let pos = 0;
  return {
    size,
    async read() {
      if (size !== null && pos >= size) return null;
      const r = pending ?? (await get(url, { signal, headers: { Range: `bytes=${pos}-${pos + HEADER_PIECE - 1}` } }));
      pending = null;
      if (r.status === 416) return null;
      const bytes = new Uint8Array(await r.arrayBuffer());
      pos += bytes.length;
      return bytes.length ? bytes : null;
    },
  };
}

/** The source a load of `url` reads: the stored model when it is complete (and, if `sha256` is
 *  given, has that digest; with `verify`, its bytes are hashed again as they load), else a
 *  download into storage. */
export async function storedOrDownload(url, id, opts) {
  let record = await readRecord(id);
  const wanted = opts.sha256?.toLowerCase();
  if (record?.complete && wanted && record.sha256 !== wanted) {
    await deleteModel(id);
    record = null;
  }
  if (record?.complete) {
    // Hashing a stored copy costs as long as reading it (SHA-256 in wasm, ~180 MB/s on this
    // CPU): done when the caller asks (a sha256, or verify), else the size is checked.
    const stored = await storedSource(id, record, { ...opts, hasher: opts.verify ? opts.hasher : null });
    if (stored) return stored;
    await deleteModel(id); // its data is gone or of the wrong size
    record = null;
  }
  return downloadSource(url, id, record, opts);
}
