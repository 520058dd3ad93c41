// Autosave: after a few seconds of idle typing the form's text goes to the
// server (a copy, never the post) and, at once, to this browser's storage.
// On return the editor offers the browser's copy when it is newer than both
// the saved post and the server's copy (which the page offers itself).

import { FIELDS, debounce, postJSON, readFields, say, writeFields } from "./form.js";

/** Seconds of idle typing before the copy goes to the server. */
const IDLE_MS = 3000;
const PREFIX = "homepage:autosave:";

function storageKey(form) {
  return PREFIX + form.dataset.formKey;
}

function readLocal(key) {
  try {
    const copy = JSON.parse(localStorage.getItem(key) || "null");
    return copy && typeof copy.savedAt === "number" && copy.fields ? copy : null;
  } catch {
    return null;
  }
}

function writeLocal(key, fields, onServer = false) {
  try {
    localStorage.setItem(key, JSON.stringify({ savedAt: Date.now(), fields, onServer }));
  } catch {
    // Storage full or refused (private browsing): the server copy remains.
  }
}

function forget(key) {
  try {
    localStorage.removeItem(key);
  } catch {
    // Nothing to forget where storage is refused.
  }
}

function sameFields(a, b) {
  return Object.keys(a).every((name) => (a[name] || "") === (b[name] || ""));
}

function time(moment) {
  return new Date(moment).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Offer the browser's copy back, with Restore and Discard buttons. */
function offer(form, key, copy, onRestore) {
  const section = document.createElement("section");
  section.className = "autosave-offer";
  section.id = "local-autosave-offer";
  section.setAttribute("aria-labelledby", "local-autosave-heading");
  const heading = document.createElement("h2");
  heading.id = "local-autosave-heading";
  heading.textContent = "This browser kept a newer copy";
  const text = document.createElement("p");
  text.textContent =
    `This browser kept a copy of this form at ${time(copy.savedAt)}, ` +
    "newer than what was saved. Restore it into the form (nothing is saved until you save)?";
  const restore = document.createElement("button");
  restore.type = "button";
  restore.textContent = "Restore the copy from this browser";
  const discard = document.createElement("button");
  discard.type = "button";
  discard.className = "secondary";
  discard.textContent = "Discard the copy";
  const actions = document.createElement("p");
  actions.append(restore, " ", discard);
  section.append(heading, text, actions);
  form.before(section);
  restore.addEventListener("click", () => {
    writeFields(form, copy.fields);
    section.remove();
    onRestore();
    say("editor-status", "The copy is back in the form; save to keep it.");
    form.elements.namedItem("body").focus();
  });
  discard.addEventListener("click", () => {
    forget(key);
    section.remove();
    say("editor-status", "Discarded the copy kept in this browser.");
  });
}

/** Start autosaving ``form``; ``onChange`` hears of every restored copy. */
export function startAutosave(form, onChange) {
  const key = storageKey(form);
  const savedAt = Date.parse(form.dataset.savedAt || "") || 0;
  const offeredAt = Date.parse(form.dataset.offeredAt || "") || 0;
  const local = readLocal(key);
  if (local) {
    // A copy the server has too is offered by the page itself.
    const offeredByPage = local.onServer && offeredAt > 0;
    if (local.savedAt > savedAt && !offeredByPage && !sameFields(local.fields, readFields(form))) {
      offer(form, key, local, onChange);
    } else if (local.savedAt <= savedAt) {
      forget(key); // The post was saved since: the copy is history.
    }
  }
  // Discarding the server's copy discards this browser's as well.
  const pageOffer = document.querySelector("#autosave-offer form");
  if (pageOffer) pageOffer.addEventListener("submit", () => forget(key));

  const toServer = debounce(async () => {
    const fields = readFields(form);
    try {
      await postJSON(form, form.dataset.autosaveUrl, fields);
      const kept = readLocal(key);
      if (kept && sameFields(kept.fields, fields)) writeLocal(key, fields, true);
      say("editor-status", `Draft copy autosaved at ${time(Date.now())}.`);
    } catch (error) {
      say("editor-status", `Kept in this browser only: ${error.message}`);
    }
  }, IDLE_MS);

  form.addEventListener("input", (event) => {
    if (!FIELDS.includes(event.target.name)) return;
    writeLocal(key, readFields(form));
    toServer();
  });
  form.addEventListener("submit", (event) => {
    // A save makes the copy of a new post history; a preview does not.
    const action = event.submitter ? event.submitter.value : "";
    if (action !== "preview" && form.dataset.formKey === "new") forget(key);
  });
}
