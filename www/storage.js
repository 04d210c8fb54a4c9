// Models kept in this browser: the Origin Private File System, one folder for hearth. Each
// model is two files: `ID.gguf` (the bytes, written in file order as they arrive) and
// `ID.json` (its record: URL, size, sha256, validators, complete or not). A record says
// `complete: true` only after every byte was written and the size (and sha256) checked, so a
// cut download is never mistaken for a model: it is resumed.
//
// Used by the page (Hearth.models.list/delete) and by the engine's worker (downloads and
// loads, through sync access handles, which exist only in workers).

const FOLDER = "hearth-models";

/** Whether this browser has the storage hearth keeps models in. */
export function storageAvailable() {
  return typeof navigator !== "undefined" && typeof navigator.storage?.getDirectory === "function";
}

async function folder() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(FOLDER, { create: true });
}

/** SHA-256 of a string, as hex (for ids). */
async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The id a model from `url` is stored under: its file name and a hash of the whole URL,
 *  e.g. `SmolLM2-135M-Instruct.Q4_0.gguf-1f2e3d4c`. */
export async function modelId(url) {
  const name = decodeURIComponent(new URL(url).pathname.split("/").pop() || "model")
    .replace(/[^\w.-]+/g, "_")
    .slice(0, 80);
  return `${name}-${(await sha256Hex(url)).slice(0, 8)}`;
}

/** Whether `text` has the shape of an id from `modelId`. */
export function looksLikeId(text) {
  return /^[\w.-]+-[0-9a-f]{8}$/.test(text);
}

/** The record of a stored model, or null. */
export async function readRecord(id) {
  try {
    const file = await (await (await folder()).getFileHandle(`${id}.json`)).getFile();
    return JSON.parse(await file.text());
  } catch {
    return null;
  }
}

/** Replaces the record of `id`. */
export async function writeRecord(id, record) {
  const handle = await (await folder()).getFileHandle(`${id}.json`, { create: true });
  const text = new TextEncoder().encode(JSON.stringify(record));
  if (typeof handle.createSyncAccessHandle === "function") {
    const h = await openHandle(handle);
    try {
      h.truncate(0);
      h.write(text, { at: 0 });
      h.flush();
    } finally {
      h.close();
    }
  } else {
    const w = await handle.createWritable();
    await w.write(text);
    await w.close();
  }
}

/** Bytes of the stored data of `id` (0 when there is none). */
async function storedBytes(id) {
  try {
    return (await (await (await folder()).getFileHandle(`${id}.gguf`)).getFile()).size;
  } catch {
    return null; // none, or open for writing in a worker
  }
}

/** Every stored model: {id, url, size, bytes, complete, sha256, storedAt}, newest first. */
export async function listModels() {
  let dir;
  try {
    dir = await folder();
  } catch {
    return []; // no storage here (or refused, as in some private windows)
  }
  const out = [];
  for await (const [name] of dir.entries()) {
    if (!name.endsWith(".json")) continue;
    const id = name.slice(0, -5);
    const r = await readRecord(id);
    if (!r) continue;
    const bytes = await storedBytes(id);
    out.push({
      id,
      url: r.url,
      size: r.size,
      bytes: bytes ?? r.bytes ?? 0,
      complete: r.complete === true,
      sha256: r.sha256 ?? null,
      storedAt: r.storedAt ?? r.startedAt,
    });
  }
  return out.sort((a, b) => String(b.storedAt).localeCompare(String(a.storedAt)));
}

/** Removes a stored model (complete or partial). Resolves to whether there was one. */
export async function deleteModel(id) {
  if (!storageAvailable()) return false;
  const dir = await folder();
  let found = false;
  for (const name of [`${id}.gguf`, `${id}.json`]) {
    try {
      await dir.removeEntry(name);
      found = true;
    } catch (e) {
      if (e.name !== "NotFoundError") throw e;
    }
  }
  return found;
}

/** A sync access handle on the data file of `id` (workers only), created if asked; a
 *  read-only one may be shared (two tabs loading one stored model). A handle still held by a
 *  worker that is going away (a reloaded page) is waited for a moment. */
export async function openData(id, { create = false, readOnly = false } = {}) {
  const handle = await (await folder()).getFileHandle(`${id}.gguf`, { create });
  return openHandle(handle, readOnly ? { mode: "read-only" } : undefined);
}

async function openHandle(handle, options) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await handle.createSyncAccessHandle(options);
    } catch (e) {
      if (e.name !== "NoModificationAllowedError") throw e;
      if (attempt >= 20) {
        throw Object.assign(
          new Error(`${handle.name} is being written by another tab or window of this site; try again when it is done`),
          { code: "network", details: { busy: true } },
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Whether this context can keep models: OPFS with sync access handles (a worker), and not
 *  refused (private windows of some browsers have none). */
export async function canStore() {
  if (!storageAvailable() || typeof FileSystemFileHandle?.prototype.createSyncAccessHandle !== "function") {
    return false;
  }
  try {
    await folder();
    return true;
  } catch {
    return false;
  }
}
