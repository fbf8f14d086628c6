// The Realtime tab: live captions from the microphone over the realtime WebSocket.

import { $, API, ApiError, apiKey, clearError, showError } from "./client.js";

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

export function setupRealtime() {
  $("rt-toggle").addEventListener("click", () => {
    if (live.socket) stopRealtime();
    else startRealtime().catch((error) => { showError(error); stopRealtime(); });
  });
}
