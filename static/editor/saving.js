// Saving: Ctrl/Cmd+S presses the form's first save button, the save shows
// its progress, and leaving with unsaved changes asks first.

import { say } from "./form.js";

/** Return the button that saves without changing the post's status. */
function saveButton(form) {
  return form.querySelector('button[name="action"][value="save"], button[name="action"][value="draft"]');
}

/** Start the save shortcut, the progress message and the leaving question. */
export function startSaving(form) {
  let changed = false;
  form.addEventListener("input", () => {
    changed = true;
  });
  form.addEventListener("change", () => {
    changed = true;
  });
  form.addEventListener("submit", (event) => {
    changed = false;
    const button = event.submitter;
    if (button && button.value !== "preview") {
      button.setAttribute("aria-busy", "true");
      say("save-status", `Saving… (${button.textContent.trim()})`);
    }
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s") {
      event.preventDefault();
      const button = saveButton(form);
      if (button) form.requestSubmit(button);
    }
  });
  window.addEventListener("beforeunload", (event) => {
    if (!changed) return;
    event.preventDefault();
    // Older browsers ask only when a value is set.
    event.returnValue = "";
  });
  return {
    markChanged() {
      changed = true;
    },
  };
}
