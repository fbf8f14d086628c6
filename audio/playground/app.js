// The playground: every capability of the API, from this origin only (no CDN, no
// build step). Plain modules; the server's OpenAPI document supplies the languages
// and formats, /v1/models and /v1/audio/voices the models and voices.

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "speech-pipeline.api-key";
const API = "/v1";

// ---------- API key, requests and errors ----------

function apiKey() {
  return $("api-key").value.trim();
}

function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

class ApiError extends Error {}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(message);
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  if (!response.ok) throw await failure(response);
  return response;
}

function showError(error) {
  const box = $("error");
  box.textContent = error instanceof ApiError ? error.message : `Error: ${error.message || error}`;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function busy(button, on, label) {
  button.disabled = on;
  if (label) button.textContent = label;
}

function download(name, blob) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// Server-Sent Events from a fetch body (EventSource cannot POST or send a key).
async function* sse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (data) yield JSON.parse(data);
    }
  }
}

// ---------- tabs (arrow keys move between them) ----------

function setupTabs() {
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

// ---------- what the server offers ----------

async function loadFacts() {
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

async function loadModels() {
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

// ---------- transcribe ----------

const audioInput = { blob: null, name: "" };

function chooseAudio(blob, name) {
  audioInput.blob = blob;
  audioInput.name = name;
  $("chosen").textContent = `${name} (${(blob.size / 1024).toFixed(0)} KB)`;
  const player = $("player");
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(blob);
}

function setupDrop(zone, input, onFile) {
  input.addEventListener("change", () => input.files[0] && onFile(input.files[0]));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files[0]) onFile(e.dataTransfer.files[0]);
  });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === zone) input.click(); });
}

let recorder = null;

async function toggleRecording() {
  const button = $("record");
  if (recorder) {
    recorder.stop();
    return;
  }
  clearError();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      chooseAudio(new Blob(chunks, { type: recorder.mimeType }), "recording.webm");
      recorder = null;
      button.setAttribute("aria-pressed", "false");
      button.textContent = "Record from the microphone";
    };
    recorder.start(250);
    button.setAttribute("aria-pressed", "true");
    button.textContent = "Stop recording";
  } catch (error) {
    showError(new Error(`The microphone is not available: ${error.message}`));
  }
}

const fmt = (t) => (t === undefined || t === null ? "" : Number(t).toFixed(2));

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

function stamp(seconds, sep) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  return `${pad(Math.floor(ms / 3600000))}:${pad(Math.floor(ms / 60000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${sep}${pad(ms % 1000, 3)}`;
}

const result = { body: null, raw: "", format: "" };

function renderSegments(segments) {
  const body = $("segments").tBodies[0];
  body.replaceChildren();
  for (const seg of segments) {
    const row = body.insertRow();
    row.insertCell().textContent = fmt(seg.start);
    row.insertCell().textContent = fmt(seg.end);
    row.insertCell().textContent = seg.speaker || "";
    row.insertCell().textContent = (seg.text || "").trim();
    row.cells[0].className = row.cells[1].className = "num";
  }
}

function renderWords(words) {
  const box = $("transcript");
  box.replaceChildren();
  words.forEach((w, i) => {
    const span = document.createElement("span");
    span.className = "word";
    span.textContent = w.word;
    span.dataset.start = w.start;
    span.dataset.end = w.end;
    span.tabIndex = 0;
    span.setAttribute("role", "button");
    span.setAttribute("aria-label", `${w.word} at ${fmt(w.start)} seconds`);
    const seek = () => { $("player").currentTime = w.start; $("player").play(); };
    span.addEventListener("click", seek);
    span.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(); });
    box.append(span, i < words.length - 1 ? " " : "");
  });
}

let follow = null;

function followPlayback() {
  const player = $("player");
  const spans = () => [...document.querySelectorAll("#transcript .word")];
  const tick = () => {
    const t = player.currentTime;
    let current = null;
    for (const span of spans()) {
      if (Number(span.dataset.start) <= t) current = span;
    }
    for (const span of spans()) span.classList.toggle("active", span === current);
    if (current) current.dataset.seen = "true";
  };
  player.addEventListener("play", () => { clearInterval(follow); follow = setInterval(tick, 25); });
  for (const stop of ["pause", "ended"]) {
    player.addEventListener(stop, () => { clearInterval(follow); tick(); });
  }
  player.addEventListener("seeked", tick);
}

function showResult(body, raw, format) {
  result.body = body;
  result.raw = raw;
  result.format = format;
  $("result").hidden = false;
  $("raw").hidden = true;
  if (body && Array.isArray(body.words) && body.words.length) {
    renderWords(body.words);
  } else if (body && format === "diarized_json") {
    const box = $("transcript");
    box.replaceChildren(...body.segments.map((s) => {
      const p = document.createElement("p");
      const who = document.createElement("strong");
      who.textContent = `${s.speaker}: `;
      p.append(who, s.text);
      return p;
    }));
  } else {
    $("transcript").textContent = body && typeof body.text === "string" ? body.text : "";
    if (!body) {
      $("raw").textContent = raw;
      $("raw").hidden = false;
    }
  }
  renderSegments(body && Array.isArray(body.segments) ? body.segments : []);
  const parts = [];
  if (body && body.language) parts.push(`language: ${body.language}`);
  if (body && body.duration) parts.push(`duration: ${fmt(body.duration)} s`);
  $("stt-meta").textContent = parts.join(" \u00b7 ");
}

function asSrt(segments) {
  return segments.map((s, i) => `${i + 1}\n${stamp(s.start, ",")} --> ${stamp(s.end, ",")}\n${s.text.trim()}\n`).join("\n");
}

function asVtt(segments) {
  return `WEBVTT\n\n${segments.map((s) => `${stamp(s.start, ".")} --> ${stamp(s.end, ".")}\n${s.speaker ? `<v ${s.speaker}>` : ""}${s.text.trim()}\n`).join("\n")}`;
}

function downloadAs(kind) {
  const base = (audioInput.name || "transcript").replace(/\.[^.]+$/, "");
  const body = result.body;
  if (!body) {
    const ext = { srt: "srt", vtt: "vtt" }[result.format] || "txt";
    download(`${base}.${ext}`, new Blob([result.raw], { type: "text/plain" }));
    return;
  }
  const segments = Array.isArray(body.segments) ? body.segments : [];
  const text = {
    txt: () => `${body.text}\n`,
    srt: () => asSrt(segments),
    vtt: () => asVtt(segments),
    json: () => JSON.stringify(body, null, 2),
  }[kind]();
  download(`${base}.${kind}`, new Blob([text], { type: kind === "json" ? "application/json" : "text/plain" }));
}

async function transcribe(event) {
  event.preventDefault();
  clearError();
  if (!audioInput.blob) {
    showError(new Error("Choose, drop or record some audio first."));
    return;
  }
  const go = $("go");
  busy(go, true, "Working\u2026");
  const format = $("format").value;
  const task = $("task").value;
  const stream = $("stream").checked;
  const form = new FormData();
  form.append("file", audioInput.blob, audioInput.name);
  form.append("model", $("model").value);
  form.append("response_format", format);
  if ($("language").value && task === "transcriptions") form.append("language", $("language").value);
  if ($("prompt").value.trim()) form.append("prompt", $("prompt").value.trim());
  if ($("algorithm").value) form.append("algorithm", $("algorithm").value);
  if (format === "verbose_json") {
    form.append("timestamp_granularities[]", "segment");
    if ($("words").checked) form.append("timestamp_granularities[]", "word");
  }
  if (stream) form.append("stream", "true");
  const started = performance.now();
  try {
    const response = await api(`${API}/audio/${task}`, { method: "POST", body: form });
    if (stream) {
      await showStream(response, format);
    } else if ((response.headers.get("content-type") || "").includes("json")) {
      const raw = await response.text();
      showResult(JSON.parse(raw), raw, format);
    } else {
      showResult(null, await response.text(), format);
    }
    const took = ((performance.now() - started) / 1000).toFixed(2);
    $("stt-meta").textContent += `${$("stt-meta").textContent ? " \u00b7 " : ""}answered in ${took} s by ${response.headers.get("x-served-model") || "?"}`;
  } catch (error) {
    showError(error);
  } finally {
    busy(go, false, task === "translations" ? "Translate" : "Transcribe");
  }
}

async function showStream(response, format) {
  $("result").hidden = false;
  $("raw").hidden = true;
  const box = $("transcript");
  box.replaceChildren();
  renderSegments([]);
  const segments = [];
  let text = "";
  for await (const event of sse(response)) {
    if (event.type === "transcript.text.delta") {
      text += event.delta;
      box.textContent = text;
    } else if (event.type === "transcript.text.segment") {
      segments.push(event);
      renderSegments(segments);
      const p = document.createElement("p");
      p.textContent = `${event.speaker}: ${event.text}`;
      box.append(p);
    } else if (event.type === "transcript.text.done") {
      text = event.text;
      if (!segments.length) box.textContent = text;
    } else if (event.error) {
      throw new ApiError(event.error.message);
    }
  }
  result.body = { text, segments };
  result.raw = text;
  result.format = format;
}

// ---------- speak ----------

let voices = [];
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

async function loadVoices() {
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

// ---------- realtime ----------

const live = { socket: null, context: null, stream: null, items: new Map(), stopped: new Map() };

function caption(itemId) {
  if (!live.items.has(itemId)) {
    const p = document.createElement("p");
    p.className = "partial";
    p.dataset.item = itemId;
    $("captions").append(p);
    live.items.set(itemId, p);
  }
  return live.items.get(itemId);
}

function toBase64(int16) {
  let binary = "";
  const bytes = new Uint8Array(int16.buffer);
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function onRealtimeEvent(event) {
  const type = event.type;
  if (type === "input_audio_buffer.speech_stopped") {
    live.stopped.set(event.item_id, performance.now());
  } else if (type === "conversation.item.input_audio_transcription.delta") {
    const p = caption(event.item_id);
    p.textContent += event.delta;
  } else if (type === "conversation.item.input_audio_transcription.completed") {
    const p = caption(event.item_id);
    p.className = "final";
    p.textContent = event.transcript;
    const stopped = live.stopped.get(event.item_id);
    if (stopped !== undefined) {
      const latency = document.createElement("span");
      latency.className = "latency";
      latency.textContent = `${Math.round(performance.now() - stopped)} ms after you stopped`;
      p.append(latency);
    }
  } else if (type === "conversation.item.input_audio_transcription.failed") {
    caption(event.item_id).textContent = `(failed: ${event.error && event.error.message})`;
  } else if (type === "error") {
    showError(new ApiError(event.error.message));
  }
}

async function startRealtime() {
  clearError();
  const status = $("rt-status");
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
  const context = new AudioContext({ sampleRate: 24000 });
  await context.audioWorklet.addModule("/playground/static/worklet.js");
  const protocols = ["realtime"];
  if (apiKey()) protocols.push(`openai-insecure-api-key.${apiKey()}`);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${API}/realtime?intent=transcription`, protocols);
  Object.assign(live, { socket, context, stream });
  socket.addEventListener("message", (m) => onRealtimeEvent(JSON.parse(m.data)));
  socket.addEventListener("close", (e) => {
    status.textContent = e.code === 1000 ? "Disconnected." : `Disconnected (${e.code}${e.reason ? `: ${e.reason}` : ""}).`;
    stopRealtime();
  });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error("the WebSocket was refused (is the key right?)")), { once: true });
  });
  const transcription = { model: "whisper-1" };
  if ($("rt-language").value) transcription.language = $("rt-language").value;
  socket.send(JSON.stringify({
    type: "session.update",
    session: {
      type: "transcription",
      audio: { input: { format: { type: "audio/pcm", rate: 24000 }, transcription, turn_detection: { type: "server_vad", silence_duration_ms: 500 } } },
    },
  }));
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "pcm16-frames");
  node.port.onmessage = ({ data }) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: toBase64(data) }));
  };
  source.connect(node);
  status.textContent = "Listening\u2026";
  $("rt-toggle").setAttribute("aria-pressed", "true");
  $("rt-toggle").textContent = "Stop";
}

function stopRealtime() {
  const { socket, context, stream } = live;
  live.socket = live.context = live.stream = null;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  if (context) context.close();
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  $("rt-toggle").setAttribute("aria-pressed", "false");
  $("rt-toggle").textContent = "Start";
}

// ---------- batch ----------

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

async function loadBatches() {
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

// ---------- start ----------

function start() {
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORAGE) || "";
  key.addEventListener("change", () => {
    localStorage.setItem(KEY_STORAGE, key.value.trim());
    loadAll();
  });
  setupTabs();
  setupDrop($("drop"), $("file"), (f) => chooseAudio(f, f.name));
  setupDrop($("batch-drop"), $("batch-file"), async (f) => {
    batchInput = await f.text();
    $("batch-urls").value = "";
    $("batch-urls").placeholder = `${f.name}: ${batchInput.split("\n").filter(Boolean).length} requests`;
  });
  $("record").addEventListener("click", toggleRecording);
  $("stt-form").addEventListener("submit", transcribe);
  $("task").addEventListener("change", () => { $("go").textContent = $("task").value === "translations" ? "Translate" : "Transcribe"; });
  $("downloads").addEventListener("click", (e) => e.target.dataset.download && downloadAs(e.target.dataset.download));
  followPlayback();
  for (const id of ["voice-filter", "voice-language", "voice-gender"]) $(id).addEventListener("input", renderVoices);
  $("speak-voice").addEventListener("change", renderVoices);
  $("speak-text").addEventListener("input", countCharacters);
  $("speak-form").addEventListener("submit", speak);
  $("rt-toggle").addEventListener("click", () => {
    if (live.socket) stopRealtime();
    else startRealtime().catch((error) => { showError(error); stopRealtime(); });
  });
  $("batch-form").addEventListener("submit", runBatch);
  $("batch-urls").addEventListener("input", () => { batchInput = null; });
  countCharacters();
  loadFacts().catch(showError);
  loadAll();
}

function loadAll() {
  clearError();
  Promise.all([loadModels(), voices.length ? null : loadVoices(), loadBatches()])
    .then(() => document.body.classList.add("ready"))
    .catch(showError);
}

start();
