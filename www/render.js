// A model's reply as readable DOM: Markdown (headings, lists, tables, links, emphasis, quotes,
// code blocks with their language and a copy button), parsed by markdown-it (vendored into
// vendor/ by build.sh from npm, pinned and checksummed).
//
// markdown-it makes an HTML string; this file never uses it. Its token stream is walked instead
// and every node is made here: only the elements of ELEMENTS, only the attributes set below,
// and every piece of model text a text node. So no HTML from a model ever reaches the DOM (raw
// HTML is off in the parser too, and would show as text), a link goes only to an http(s)
// address, and an image is shown as a link to it, never fetched: a reply must not make the page
// call a server on its own (a model can be told to put a tracking URL in its answer).
import MarkdownIt from "./vendor/markdown-it.js";

const md = new MarkdownIt("default", { html: false, linkify: true });
// Links and images whose address is not http(s) (javascript:, data:, file:, relative paths)
// are not links: markdown-it leaves their source text as it was written.
md.validateLink = (url) => webAddress(url) !== null;

/** The block and inline elements a reply may contain, by markdown-it's tag names. */
const ELEMENTS = new Set(
  "p h1 h2 h3 h4 h5 h6 ul ol li blockquote hr table thead tbody tr th td em strong s a br".split(" "),
);

/** Replaces `el`'s content with `text` rendered as Markdown. */
export function renderReply(el, text) {
  const root = document.createDocumentFragment();
  appendTokens(root, md.parse(text, {}));
  el.replaceChildren(root);
}

/** `url` as an absolute http(s) address, or null. */
function webAddress(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

/** Makes the anchor `a` go to the checked address `href`, in a new tab without an opener or a
 *  referrer; `a`. */
function leadOut(a, href) {
  return Object.assign(a, { href, target: "_blank", rel: "noopener noreferrer" });
}

// markdown-it's tokens are flat: an opening token (nesting 1) starts an element that the
// tokens up to its closing one (nesting -1) fill; `inline` tokens carry their own children.
function appendTokens(parent, tokens) {
  const open = [parent];
  for (const t of tokens) {
    const top = open[open.length - 1];
    if (t.nesting === 1) {
      // A tight list's paragraphs are hidden: their text goes straight into the <li>.
      const el = t.hidden ? top : element(t);
      if (el !== top) top.append(el);
      open.push(el);
    } else if (t.nesting === -1) {
      if (open.length > 1) open.pop();
    } else {
      appendLeaf(top, t);
    }
  }
}

// An element for an opening token, with the few attributes Markdown gives: a link's checked
// address, a list's first number, a table cell's alignment. Anything unexpected is a <span>.
function element(t) {
  const tag = ELEMENTS.has(t.tag) ? t.tag : "span";
  const el = document.createElement(tag);
  if (tag === "a") {
    const href = webAddress(t.attrGet("href") ?? "");
    if (href === null) return document.createElement("span");
    leadOut(el, href);
  } else if (tag === "ol") {
    const start = Number.parseInt(t.attrGet("start") ?? "", 10);
    if (Number.isFinite(start) && start !== 1) el.start = start;
  } else if (tag === "th" || tag === "td") {
    const align = /text-align:\s*(left|right|center)/.exec(t.attrGet("style") ?? "");
    if (align) el.style.textAlign = align[1];
  }
  return el;
}

function appendLeaf(parent, t) {
  switch (t.type) {
    case "inline":
      appendTokens(parent, t.children ?? []);
      break;
    case "fence":
    case "code_block":
      parent.append(codeBlock(t.content.replace(/\n$/, ""), t.type === "fence" ? t.info.trim().split(/\s+/)[0] : ""));
      break;
    case "code_inline": {
      const code = document.createElement("code");
      code.textContent = t.content;
      parent.append(code);
      break;
    }
    case "softbreak": // a model's single newline means a new line, as chat apps show it
    case "hardbreak":
      parent.append(document.createElement("br"));
      break;
    case "hr":
      parent.append(document.createElement("hr"));
      break;
    case "image": {
      // Shown as a link to the picture (see the top of this file): its alt text, or its address.
      const href = webAddress(t.attrGet("src") ?? "");
      const a = document.createElement(href ? "a" : "span");
      a.className = "image-link";
      a.textContent = `Image: ${t.content || href || "(no description)"}`;
      if (href) leadOut(a, href).title = href;
      parent.append(a);
      break;
    }
    default:
      // text, and (never with html: false, but as text if ever) html_inline / html_block.
      if (t.content) parent.append(document.createTextNode(t.content));
  }
}

// A fenced block: a header with its language and a Copy button, then the code as text.
function codeBlock(text, language) {
  const box = document.createElement("div");
  box.className = "code-block";
  const header = document.createElement("div");
  header.className = "code-header";
  const label = document.createElement("span");
  label.className = "code-lang";
  label.textContent = language || "text";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "code-copy";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", `Copy the ${language || "text"} code`);
  copy.addEventListener("click", () => {
    navigator.clipboard?.writeText(text).then(
      () => (copy.textContent = "Copied"),
      () => (copy.textContent = "Copy failed"),
    );
    setTimeout(() => (copy.textContent = "Copy"), 2000);
  });
  header.append(label, copy);
  const pre = document.createElement("pre");
  const code = document.createElement("code");
  code.textContent = text;
  pre.append(code);
  box.append(header, pre);
  return box;
}
