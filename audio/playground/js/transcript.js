// The Transcribe tab's result: the transcript (words that follow playback, or speaker
// turns), its segments table and its facts.

import { $ } from "./client.js";

export const fmt = (t) => (t === undefined || t === null ? "" : Number(t).toFixed(2));


export const result = { body: null, raw: "", format: "", form: null, task: "" };
// The last answer: its JSON body (or null), raw text, format, and the request that made
// it (for subtitle downloads, which the server renders).

export function renderSegments(segments) {
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

export function followPlayback() {
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

export function showResult(body, raw, format) {
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
