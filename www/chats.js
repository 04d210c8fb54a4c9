// Conversations kept in this browser (IndexedDB, beside the stored models): each chat's
// messages, system prompt, settings and model, so that a reload brings them all back. Nothing
// leaves the browser.

const DB = "hearth-chats";
const STORE = "chats";

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Runs `fn(store)` in one transaction; resolves with its request's result once committed. */
async function transaction(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** Every kept chat, the most recently changed first. */
export async function listChats() {
  const chats = await transaction("readonly", (s) => s.getAll());
  return chats.sort((a, b) => b.updated - a.updated);
}

/** Keeps `chat` (replacing the one with its id), stamped with the time of the change. */
export function saveChat(chat) {
  chat.updated = Date.now();
  return transaction("readwrite", (s) => s.put(chat));
}

/** Forgets a chat. */
export function deleteChat(id) {
  return transaction("readwrite", (s) => s.delete(id));
}

/** A new, empty chat. */
export function newChat() {
  const now = Date.now();
  return { id: crypto.randomUUID(), title: "", created: now, updated: now, messages: [], dropped: 0, settings: {} };
}

/** The chat's title: the one it was given, else its first question's start. */
export function chatTitle(chat) {
  if (chat.title) return chat.title;
  const first = chat.messages.find((m) => m.role === "user")?.content;
  const text = typeof first === "string" ? first.replace(/\s+/g, " ").trim() : "";
  return text ? (text.length > 48 ? `${text.slice(0, 47)}…` : text) : "New chat";
}

const text = (content) => (typeof content === "string" ? content : (content ?? []).map((p) => p.text ?? "").join(""));

/** The chat as Markdown: its title, the system prompt, and each turn under its speaker. */
export function chatMarkdown(chat) {
  const who = { user: "User", assistant: "Assistant", tool: "Tool result", system: "System" };
  const parts = [`# ${chatTitle(chat)}`];
  if (chat.settings?.system) parts.push(`**System:** ${chat.settings.system}`);
  for (const m of chat.messages) {
    let body = text(m.content);
    if (m.reasoning_content) body = `> ${m.reasoning_content.split("\n").join("\n> ")}\n\n${body}`;
    for (const call of m.tool_calls ?? []) body += `\n\n\`${call.function.name}(${call.function.arguments})\``;
    parts.push(`**${who[m.role] ?? m.role}:**\n\n${body.trim()}`);
  }
  return parts.join("\n\n") + "\n";
}

/** Bytes the kept chats take (their JSON). */
export async function chatsSize() {
  return new Blob([JSON.stringify(await listChats())]).size;
}
