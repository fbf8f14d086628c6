// The playground: every capability of the API, from this origin only (no CDN, no
// build step). ES modules: the API client (client.js), one per tab, and this start.
// The server's OpenAPI document supplies the languages and formats, /v1/models and
// /v1/audio/voices the models and voices.

import { $, KEY_STORAGE, clearError, showError } from "./client.js";
import { loadBatches, setupBatch } from "./batch.js";
import { setupRealtime } from "./realtime.js";
import { loadVoices, setupSpeak, voicesLoaded } from "./speak.js";
import { loadFacts, loadModels, setupTabs } from "./tabs.js";
import { setupTranscribe } from "./transcribe.js";

function loadAll() {
  clearError();
  Promise.all([loadModels(), voicesLoaded() ? null : loadVoices(), loadBatches()])
    .then(() => document.body.classList.add("ready"))
    .catch(showError);
}

function start() {
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORAGE) || "";
  key.addEventListener("change", () => {
    localStorage.setItem(KEY_STORAGE, key.value.trim());
    loadAll();
  });
  setupTabs();
  setupTranscribe();
  setupSpeak();
  setupRealtime();
  setupBatch();
  loadFacts().catch(showError);
  loadAll();
}

start();
