// The Speak tab: the voices (filter, samples) and speech played while it arrives.

import { $, API, api, busy, clearError, showError } from "./client.js";

let voices = [];

export const voicesLoaded = () => voices.length > 0;
const samples = new Map();

const SAMPLE_TEXT = { en: "Hello, this is how I sound.", ar: "\u0645\u0631\u062d\u0628\u0627\u060c \u0647\u0630\u0627 \u0635\u0648\u062a\u064a." };

function speechBody(voice, input, extra = {}) {
  return JSON.stringify({ model: voice.models[0], voice: voice.id, input, ...extra });
}

async function playSample(voice, button) {
  clearError();
  try {
    if (!samples.has(voice.id)) {
      busy(button, true);
      const response = await api(`${API}/audio/speech`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: speechBody(voice, SAMPLE_TEXT[voice.language] || SAMPLE_TEXT.en, { response_format: "mp3" }),
      });
      samples.set(voice.id, URL.createObjectURL(await response.blob()));
    }
    await new Audio(samples.get(voice.id)).play();
  } catch (error) {
    showError(error);
  } finally {
    busy(button, false);
  }
}

function renderVoices() {
  const query = $("voice-filter").value.trim().toLowerCase();
  const language = $("voice-language").value;
  const gender = $("voice-gender").value;
  const list = $("voices");
  list.replaceChildren();
  for (const voice of voices) {
    const haystack = [voice.id, voice.description, voice.gender, voice.age, ...voice.aliases].join(" ").toLowerCase();
    if ((query && !haystack.includes(query)) || (language && voice.language !== language) || (gender && voice.gender !== gender)) continue;
    const item = document.createElement("li");
    item.classList.toggle("chosen", $("speak-voice").value === voice.id);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = voice.id;
    const facts = document.createElement("span");
    facts.className = "muted";
    facts.textContent = [voice.language, voice.gender, voice.age].filter(Boolean).join(" \u00b7 ");
    const about = document.createElement("span");
    about.textContent = voice.description;
    const aliases = document.createElement("span");
    aliases.className = "muted";
    aliases.textContent = voice.aliases.length ? `also: ${voice.aliases.join(", ")}` : "";
    const row = document.createElement("span");
    row.className = "row";
    const play = document.createElement("button");
    play.type = "button";
    play.textContent = "\u25b6 Sample";
    play.setAttribute("aria-label", `Play a sample of ${voice.id}`);
    play.addEventListener("click", () => playSample(voice, play));
    const use = document.createElement("button");
    use.type = "button";
    use.textContent = "Use";
    use.setAttribute("aria-label", `Use ${voice.id}`);
    use.addEventListener("click", () => { $("speak-voice").value = voice.id; renderVoices(); $("speak-text").focus(); });
    row.append(play, use);
    item.append(name, facts, about, aliases, row);
    list.append(item);
  }
}

export async function loadVoices() {
  ({ data: voices } = await (await api(`${API}/audio/voices`)).json());
  const byValue = (select, values) => [...new Set(values)].sort().forEach((v) => select.add(new Option(v, v)));
  byValue($("voice-language"), voices.map((v) => v.language));
  byValue($("voice-gender"), voices.map((v) => v.gender).filter(Boolean));
  for (const voice of voices) $("speak-voice").add(new Option(`${voice.id} (${voice.language})`, voice.id));
  renderVoices();
}

function countCharacters() {
  $("speak-count").textContent = $("speak-text").value.length.toLocaleString("en");
}

// Play while the audio arrives: mp3 through Media Source Extensions; other formats
// play once they are whole.
async function speak(event) {
  event.preventDefault();
  clearError();
  const voice = voices.find((v) => v.id === $("speak-voice").value);
  const format = $("speak-format").value;
  const extra = { response_format: format, speed: Number($("speak-speed").value) || 1 };
  if ($("speak-rate").value) extra.sample_rate = Number($("speak-rate").value);
  const button = $("speak");
  busy(button, true, "Speaking\u2026");
  const player = $("speak-player");
  const started = performance.now();
  let firstByte = null;
  try {
    const response = await api(`${API}/audio/speech`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: speechBody(voice, $("speak-text").value, extra),
    });
    $("speak-result").hidden = false;
    const type = response.headers.get("content-type") || "application/octet-stream";
    const chunks = [];
    // the body's chunks as they arrive, kept for the download, the first one timed
    async function* received() {
      const reader = response.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        if (firstByte === null) firstByte = performance.now() - started;
        chunks.push(value);
        yield value;
      }
    }
    if (format === "mp3" && window.MediaSource && MediaSource.isTypeSupported("audio/mpeg")) {
      const source = new MediaSource();
      player.src = URL.createObjectURL(source);
      await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
      const buffer = source.addSourceBuffer("audio/mpeg");
      for await (const value of received()) {
        buffer.appendBuffer(value);
        await new Promise((resolve) => buffer.addEventListener("updateend", resolve, { once: true }));
        if (player.paused && chunks.length === 1) player.play().catch(() => {});
      }
      source.endOfStream();
    } else {
      for await (const value of received()) void value;
      player.src = URL.createObjectURL(new Blob(chunks, { type }));
      player.play().catch(() => {});
    }
    const blob = new Blob(chunks, { type });
    const link = $("speak-download");
    link.href = URL.createObjectURL(blob);
    link.download = `speech.${format}`;
    $("speak-meta").textContent = `${(blob.size / 1024).toFixed(0)} KB \u00b7 first audio after ${Math.round(firstByte || 0)} ms`;
  } catch (error) {
    showError(error);
  } finally {
    busy(button, false, "Speak");
  }
}

export function setupSpeak() {
  for (const id of ["voice-filter", "voice-language", "voice-gender"]) $(id).addEventListener("input", renderVoices);
  $("speak-voice").addEventListener("change", renderVoices);
  $("speak-text").addEventListener("input", countCharacters);
  $("speak-form").addEventListener("submit", speak);
  countCharacters();
}
