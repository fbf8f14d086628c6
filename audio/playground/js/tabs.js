// The tab bar, and what the server offers (languages from its OpenAPI document,
// models from /v1/models).

import { $, API, api, clearError } from "./client.js";

// Tabs: arrow keys move between them.
export function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    clearError();
    history.replaceState(null, "", `#${tab.id.slice(4)}`);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      select(next);
    });
  });
  const wanted = tabs.find((t) => t.id === `tab-${location.hash.slice(1)}`);
  if (wanted) select(wanted);
}

export async function loadFacts() {
  const spec = await (await fetch("/openapi.json")).json();
  const form = spec.paths[`${API}/audio/transcriptions`].post.requestBody.content["multipart/form-data"].schema;
  const names = new Intl.DisplayNames(["en"], { type: "language" });
  for (const select of [$("language"), $("rt-language")]) {
    for (const code of form.properties.language.enum) {
      let label = code;
      try { label = `${names.of(code)} (${code})`; } catch { /* unknown to the browser */ }
      select.add(new Option(label, code));
    }
  }
}

export async function loadModels() {
  const { data } = await (await api(`${API}/models`)).json();
  const select = $("model");
  select.replaceChildren();
  const stt = data.filter((m) => m.kind === "speech-to-text");
  for (const model of stt) {
    const served = model.served_by && model.served_by !== model.id ? ` \u2192 ${model.served_by}` : "";
    const option = new Option(`${model.id}${served}${model.active ? "" : " (not installed)"}`, model.id);
    option.disabled = !model.active;
    select.add(option);
  }
  const preferred = stt.find((m) => m.id === "whisper-base" && m.active) || stt.find((m) => m.active);
  if (preferred) select.value = preferred.id;
}
