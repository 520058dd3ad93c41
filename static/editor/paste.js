// Images pasted or dropped on the body are uploaded through the form's own
// upload endpoint, described by the author, and inserted at the cursor.

import { postJSON, say } from "./form.js";

function imageIn(transfer) {
  if (!transfer) return null;
  for (const file of transfer.files || []) {
    if (file.type.startsWith("image/")) return file;
  }
  return null;
}

/** Put ``snippet`` into ``body`` as a paragraph of its own at the cursor. */
export function insertAtCursor(body, snippet) {
  const start = body.selectionStart;
  const end = body.selectionEnd;
  const before = body.value.slice(0, start);
  const after = body.value.slice(end);
  const lead = before === "" || before.endsWith("\n\n") ? "" : before.endsWith("\n") ? "\n" : "\n\n";
  const tail = after === "" || after.startsWith("\n\n") ? "\n" : after.startsWith("\n") ? "\n" : "\n\n";
  body.setRangeText(lead + snippet + tail, start, end, "end");
  body.dispatchEvent(new Event("input", { bubbles: true }));
}

async function upload(form, body, file) {
  const alt = window.prompt("Describe the image for people who cannot see it (alternative text):", "");
  if (alt === null) {
    say("editor-status", "The image was not added.");
    return;
  }
  say("editor-status", "Uploading the image…");
  try {
    const answer = await postJSON(form, form.dataset.uploadUrl, { image: file, image_alt: alt });
    insertAtCursor(body, answer.markdown);
    say("editor-status", "The image was uploaded and added at the cursor. Save the post to keep it.");
  } catch (error) {
    say("editor-status", `The image was not uploaded: ${error.message}`);
  }
}

/** Let images be pasted and dropped onto the body of ``form``. */
export function startPaste(form) {
  const body = form.elements.namedItem("body");
  if (!body || !form.dataset.uploadUrl) return;
  body.addEventListener("paste", (event) => {
    const file = imageIn(event.clipboardData);
    if (!file) return;
    event.preventDefault();
    upload(form, body, file);
  });
  body.addEventListener("dragover", (event) => {
    if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) event.preventDefault();
  });
  body.addEventListener("drop", (event) => {
    const file = imageIn(event.dataTransfer);
    if (!file) return;
    event.preventDefault();
    body.focus();
    upload(form, body, file);
  });
}
