// What the editor's modules share: the post form's fields, its status
// messages, and requests to the server's JSON endpoints.

/** The fields an autosave keeps, as the server's core/autosave.py names them. */
export const FIELDS = ["title", "slug", "body", "summary", "tags", "kind", "published_at"];

/** Return the form's typed fields as an object of strings. */
export function readFields(form) {
  const data = new FormData(form);
  const fields = {};
  for (const name of FIELDS) {
    const value = data.get(name);
    fields[name] = typeof value === "string" ? value : "";
  }
  return fields;
}

/** Put ``fields`` back into the form, as typed. */
export function writeFields(form, fields) {
  for (const name of FIELDS) {
    if (typeof fields[name] !== "string") continue;
    const control = form.elements.namedItem(name);
    if (control instanceof RadioNodeList) {
      for (const radio of control) radio.checked = radio.value === fields[name];
    } else if (control) {
      control.value = fields[name];
    }
  }
}

/** Say ``text`` in the live region with the id ``id``. */
export function say(id, text) {
  const region = document.getElementById(id);
  if (region) region.textContent = text;
}

/**
 * Post ``fields`` with the form's CSRF token to ``url``; return the JSON answer.
 *
 * Throws with the server's message when it refuses, and when the login has
 * expired (the server answers with a redirect to the login page then).
 */
export async function postJSON(form, url, fields, signal) {
  const body = new FormData();
  body.set("csrf_token", form.elements.namedItem("csrf_token").value);
  for (const [name, value] of Object.entries(fields)) {
    if (value instanceof Blob) body.set(name, value, value.name || "pasted-image");
    else body.set(name, value);
  }
  const response = await fetch(url, {
    method: "POST",
    body,
    headers: { Accept: "application/json" },
    credentials: "same-origin",
    redirect: "manual",
    signal,
  });
  if (response.type === "opaqueredirect") {
    throw new Error("Your login has expired: log in again in another tab.");
  }
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    throw new Error(`The server answered ${response.status}.`);
  }
  if (!response.ok) throw new Error(answer.error || `The server answered ${response.status}.`);
  return answer;
}

/** Return a function that calls ``action`` once ``wait`` ms have passed without a call. */
export function debounce(action, wait) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => action(...args), wait);
  };
}
