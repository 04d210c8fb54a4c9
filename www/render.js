// A model's reply as readable DOM: paragraphs, fenced code blocks and `inline code`. Built
// only from text nodes and elements this file creates: no HTML from the model ever reaches the
// DOM (a reply with <img onerror=…> or <script> shows those characters, nothing more).

/** Replaces `el`'s content with `text` rendered. */
export function renderReply(el, text) {
  const parts = text.split(/^```[^\n]*\n?/m);
  const out = [];
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      // Inside a fence (an unclosed one while streaming runs to the end).
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = part.replace(/\n$/, "");
      pre.append(code);
      out.push(pre);
      return;
    }
    for (const para of part.split(/\n{2,}/)) {
      if (!para.trim()) continue;
      const p = document.createElement("p");
      appendInline(p, para.replace(/^\n+|\n+$/g, ""));
      out.push(p);
    }
  });
  el.replaceChildren(...out);
}

// Text with `code` spans; newlines kept (the element's CSS has white-space: pre-wrap).
function appendInline(el, text) {
  text.split(/(`[^`\n]+`)/).forEach((piece) => {
    if (/^`[^`\n]+`$/.test(piece)) {
      const code = document.createElement("code");
      code.textContent = piece.slice(1, -1);
      el.append(code);
    } else if (piece) {
      el.append(document.createTextNode(piece));
    }
  });
}
