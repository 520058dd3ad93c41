// The post form, enhanced. Without this script the form works as it is:
// Preview, the upload button and every save are plain form posts.
//
// With it: an uploaded image goes where the cursor was in the body, the text
// is autosaved (server and browser), a live preview and preflight list
// follow the typing, images can be pasted or dropped on the body, Ctrl/Cmd+S
// saves, and leaving with unsaved changes asks first.

import { startAutosave } from "./editor/autosave.js";
import { startPaste } from "./editor/paste.js";
import { startPreview } from "./editor/preview.js";
import { startSaving } from "./editor/saving.js";

const form = document.getElementById("post-form");
const body = document.getElementById("body");
const cursor = document.getElementById("cursor");

if (form && body && cursor) {
  // Until the author has been in the body, its selection says nothing about
  // where they want the image (browsers start it at 0).
  let placed = false;
  for (const event of ["focus", "click", "keyup", "select"]) {
    body.addEventListener(event, () => {
      placed = true;
    });
  }
  form.addEventListener("submit", () => {
    cursor.value = placed ? String(body.selectionStart) : "";
  });

  const saving = startSaving(form);
  const preview = startPreview(form);
  startAutosave(form, () => {
    saving.markChanged();
    preview();
  });
  startPaste(form);
}
