// Live preview: the body rendered by the server's own renderer, beside the
// text on wide screens and behind a tab on phones, with the preflight list.

import { debounce, postJSON, say } from "./form.js";

const WAIT_MS = 600;

function showFindings(findings) {
  const section = document.getElementById("preflight");
  const list = document.getElementById("preflight-list");
  if (!section || !list) return;
  section.hidden = false;
  list.replaceChildren();
  const intro = document.createElement("p");
  if (!findings.length) {
    intro.textContent = "Preflight found nothing to fix.";
    list.append(intro);
    return;
  }
  intro.textContent = "Preflight found these; fix them or publish anyway, it is your call.";
  const items = document.createElement("ul");
  for (const finding of findings) {
    const item = document.createElement("li");
    item.className = `finding finding-${finding.severity}`;
    const label = document.createElement("strong");
    label.textContent = finding.severity === "error" ? "Problem:" : "Advice:";
    item.append(label, ` ${finding.message}`);
    items.append(item);
  }
  list.append(intro, items);
}

function useTabs(area) {
  const write = document.getElementById("show-write");
  const preview = document.getElementById("show-preview");
  const tabs = document.getElementById("write-tabs");
  if (!write || !preview || !tabs) return;
  tabs.hidden = false;
  area.dataset.showing = "write";
  for (const [button, showing] of [[write, "write"], [preview, "preview"]]) {
    button.addEventListener("click", () => {
      area.dataset.showing = showing;
      write.setAttribute("aria-pressed", String(showing === "write"));
      preview.setAttribute("aria-pressed", String(showing === "preview"));
    });
  }
}

/** Start the live preview of ``form``; return a function that renders it now. */
export function startPreview(form) {
  const area = document.getElementById("write-area");
  const pane = document.getElementById("live-preview");
  const target = document.getElementById("live-preview-body");
  if (!area || !pane || !target || !form.dataset.previewUrl) return () => {};
  const title = document.createElement("h3");
  title.id = "live-preview-title";
  target.before(title);
  // After the Preview button, the page shows the server's preview: the live
  // one starts with the first change, which makes that one stale.
  let stale = document.querySelector("section.preview");
  function show() {
    if (stale) {
      stale.remove();
      stale = null;
    }
    pane.hidden = false;
    area.classList.add("live");
  }
  useTabs(area);

  let running = null;
  async function render() {
    if (running) running.abort();
    running = new AbortController();
    const fields = {
      body: form.elements.namedItem("body").value,
      summary: form.elements.namedItem("summary").value,
    };
    title.textContent = form.elements.namedItem("title").value.trim() || "(No title yet)";
    try {
      const answer = await postJSON(form, form.dataset.previewUrl, fields, running.signal);
      // The server's renderer sanitized it, as it does for the Preview button.
      target.innerHTML = answer.html;
      show();
      showFindings(answer.findings);
    } catch (error) {
      if (error.name !== "AbortError") say("editor-status", `Preview not updated: ${error.message}`);
    }
  }
  const later = debounce(render, WAIT_MS);
  form.addEventListener("input", (event) => {
    if (["title", "body", "summary"].includes(event.target.name)) later();
  });
  if (!stale) render();
  return render;
}
