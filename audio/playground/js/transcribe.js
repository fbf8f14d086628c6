// The Transcribe tab: audio chosen, dropped or recorded, sent to the transcription or
// translation route (streamed or whole), and downloads. Subtitles (srt, vtt) are asked of
// the server for the same audio, so they are the server's own, speaker labels included.

import { $, API, ApiError, api, busy, clearError, download, setupDrop, showError, sse } from "./client.js";
import { followPlayback, renderSegments, result, showResult } from "./transcript.js";

const audioInput = { blob: null, name: "" };

function chooseAudio(blob, name) {
  audioInput.blob = blob;
  audioInput.name = name;
  $("chosen").textContent = `${name} (${(blob.size / 1024).toFixed(0)} KB)`;
  const player = $("player");
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(blob);
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

const SUBTITLES = { srt: "srt", vtt: "vtt" };

// The same request again in a subtitle format (with speakers if the result has them).
async function subtitles(kind) {
  const form = new FormData();
  for (const [name, value] of result.form.entries()) {
    if (!["response_format", "stream", "timestamp_granularities[]"].includes(name)) form.append(name, value);
  }
  form.append("response_format", kind);
  const speakers = result.format === "diarized_json" || (result.body?.segments || []).some((s) => s.speaker);
  if (speakers && result.task === "transcriptions") form.append("diarize", "true");
  return (await api(`${API}/audio/${result.task}`, { method: "POST", body: form })).text();
}

async function downloadAs(kind) {
  clearError();
  const base = (audioInput.name || "transcript").replace(/\.[^.]+$/, "");
  const body = result.body;
  try {
    if (!body) {
      const ext = SUBTITLES[result.format] || "txt";
      download(`${base}.${ext}`, new Blob([result.raw], { type: "text/plain" }));
    } else if (SUBTITLES[kind]) {
      download(`${base}.${kind}`, new Blob([await subtitles(kind)], { type: "text/plain" }));
    } else {
      const text = kind === "json" ? JSON.stringify(body, null, 2) : `${body.text}\n`;
      download(`${base}.${kind}`, new Blob([text], { type: kind === "json" ? "application/json" : "text/plain" }));
    }
  } catch (error) {
    showError(error);
  }
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
  result.form = form;
  result.task = task;
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

export function setupTranscribe() {
  setupDrop($("drop"), $("file"), (f) => chooseAudio(f, f.name));
  $("record").addEventListener("click", toggleRecording);
  $("stt-form").addEventListener("submit", transcribe);
  $("task").addEventListener("change", () => { $("go").textContent = $("task").value === "translations" ? "Translate" : "Transcribe"; });
  $("downloads").addEventListener("click", (e) => e.target.dataset.download && downloadAs(e.target.dataset.download));
  followPlayback();
}
