// The Batch tab: a JSONL file or pasted URLs become a batch; the project's recent batches.

import { $, API, api, busy, clearError, setupDrop, showError } from "./client.js";

let batchInput = null;

function urlsToJsonl(text) {
  return text.split(/\s+/).filter(Boolean).map((url, i) => JSON.stringify({
    custom_id: `url-${i + 1}`, method: "POST", url: `${API}/audio/transcriptions`,
    body: { model: $("model").value || "whisper-1", url },
  })).join("\n");
}

async function fileLink(fileId, link) {
  const blob = await (await api(`${API}/files/${fileId}/content`)).blob();
  link.href = URL.createObjectURL(blob);
  link.hidden = false;
}

const RECENT_BATCHES = 10;

export async function loadBatches() {
  // The server lists only the batches of the key's own project.
  const page = await (await api(`${API}/batches?limit=${RECENT_BATCHES}`)).json();
  const list = $("batch-list");
  list.replaceChildren(...page.data.map((batch) => {
    const item = document.createElement("li");
    const id = document.createElement("code");
    id.textContent = batch.id;
    const state = document.createElement("span");
    const counts = batch.request_counts || {};
    state.textContent = `${batch.status} \u00b7 ${counts.completed ?? 0}/${counts.total ?? 0}`;
    item.append(id, state);
    return item;
  }));
  $("batch-none").hidden = page.data.length > 0;
}

async function runBatch(event) {
  event.preventDefault();
  clearError();
  const jsonl = batchInput || urlsToJsonl($("batch-urls").value);
  if (!jsonl.trim()) {
    showError(new Error("Choose a JSONL file or paste at least one URL."));
    return;
  }
  const button = $("batch-go");
  busy(button, true, "Running\u2026");
  $("batch-output").hidden = $("batch-errors").hidden = true;
  try {
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new Blob([jsonl], { type: "application/jsonl" }), "requests.jsonl");
    const file = await (await api(`${API}/files`, { method: "POST", body: form })).json();
    let batch = await (await api(`${API}/batches`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ input_file_id: file.id, endpoint: `${API}/audio/transcriptions`, completion_window: "24h" }),
    })).json();
    $("batch-status").hidden = false;
    for (;;) {
      const counts = batch.request_counts || {};
      $("batch-id").textContent = batch.id;
      $("batch-state").textContent = batch.status;
      $("batch-completed").textContent = counts.completed ?? 0;
      $("batch-failed").textContent = counts.failed ?? 0;
      $("batch-total").textContent = counts.total ?? 0;
      if (["completed", "failed", "cancelled", "expired"].includes(batch.status)) break;
      await new Promise((r) => setTimeout(r, 700));
      batch = await (await api(`${API}/batches/${batch.id}`)).json();
    }
    if (batch.output_file_id) await fileLink(batch.output_file_id, $("batch-output"));
    if (batch.error_file_id) await fileLink(batch.error_file_id, $("batch-errors"));
  } catch (error) {
    showError(error);
  } finally {
    busy(button, false, "Start batch");
    loadBatches().catch(showError);
  }
}

export function setupBatch() {
  setupDrop($("batch-drop"), $("batch-file"), async (f) => {
    batchInput = await f.text();
    $("batch-urls").value = "";
    $("batch-urls").placeholder = `${f.name}: ${batchInput.split("\n").filter(Boolean).length} requests`;
  });
  $("batch-form").addEventListener("submit", runBatch);
  $("batch-urls").addEventListener("input", () => { batchInput = null; });
}
