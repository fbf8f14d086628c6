"""`speech-pipeline bench tts`: RTF per voice, pitch/rate per voice, Arabic CER per
rendering, and time to first audio byte of a streamed request.

Controls, same process and text: the unshaped engine (for the shaping cost and
for Arabic intelligibility), and the whole-file request (for streaming).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from dataclasses import asdict, dataclass

import httpx
import numpy as np

from audio.media.encode import resample
from audio.settings import Settings
from audio.wiring import stt_registry, voice_engines
from bench.report import OUT_DIR, error_rate, heading, publish
from bench.server import serving
from common.pcm import SAMPLE_RATE
from transcriber.sequential import SequentialEngine
from transcriber.types import SttOptions
from voices.catalog import VoiceCatalog
from voices.registry import ARABIC_RENDERINGS, VoiceEngines
from voices.shaping import median_f0, reshape
from voices.text import normalise, split_sentences
from voices.types import Pcm, Voice

ENGLISH = (
    "I love building and shipping new features for our users! "
    "The weather today is sunny with a light breeze. "
    "Please call me back when you have a free moment this afternoon."
)
ARABIC = (
    "مرحبا بكم في خدمة تحويل النص إلى كلام.",
    "الطقس اليوم جميل والسماء صافية.",
    "أريد أن أشرب فنجان قهوة في الصباح.",
    "يسعدني أن أساعدك في أي وقت.",
    "المدينة كبيرة وفيها حدائق كثيرة.",
    "سنلتقي غدا بعد الظهر في المكتبة.",
)
STREAM_REQUESTS = 10


@dataclass(frozen=True)
class VoiceRow:
    voice: str
    """Canonical name."""
    gender: str
    audio_seconds: float
    """Length of the rendered text."""
    engine_seconds: float
    """Engine time (the control)."""
    shaping_seconds: float
    """WORLD time."""
    median_f0: float
    """Measured median F0 of the shaped audio."""

    @property
    def rtf(self) -> float:
        return (self.engine_seconds + self.shaping_seconds) / self.audio_seconds


def _render(
    engines: VoiceEngines, voice: Voice, text: str, shape: bool
) -> tuple[Pcm, int, float, float]:
    engine = engines.get(voice.engine)
    pieces: list[Pcm] = []
    engine_time = shaping_time = 0.0
    for sentence in split_sentences(normalise(text, voice.language)):
        started = time.perf_counter()
        pcm = engine.render(sentence, 1.0 if shape else voice.rate)
        engine_time += time.perf_counter() - started
        if shape:
            started = time.perf_counter()
            pcm = reshape(pcm, engine.sample_rate, voice.f0_hz, voice.formant, voice.rate)
            shaping_time += time.perf_counter() - started
        pieces.append(pcm)
    return np.concatenate(pieces), engine.sample_rate, engine_time, shaping_time


def _voice_rows(engines: VoiceEngines, catalog: VoiceCatalog) -> list[VoiceRow]:
    rows = []
    for voice in catalog.voices:
        text = ENGLISH if voice.language == "en" else " ".join(ARABIC[:3])
        _render(engines, voice, text, shape=True)  # warm-up
        pcm, rate, engine_s, shaping_s = _render(engines, voice, text, shape=True)
        rows.append(VoiceRow(voice.name, voice.gender, pcm.shape[0] / rate, engine_s, shaping_s,
                             median_f0(pcm, rate)))  # fmt: skip
    return rows


def _arabic_norm(text: str) -> str:
    text = re.sub(r"[\u064B-\u0652\u0640]", "", text)
    text = re.sub(r"[إأآ]", "ا", text).replace("ة", "ه").replace("ى", "ي")
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", text)).strip()


def _cer(reference: str, hypothesis: str) -> float:
    return error_rate(list(_arabic_norm(reference)), list(_arabic_norm(hypothesis)))


def _arabic_cer(settings: Settings, catalog: VoiceCatalog) -> dict[str, dict[str, float]]:
    stt = SequentialEngine(stt_registry(settings).get(settings.stt.default_model))
    options = SttOptions(language="ar", beam_size=settings.stt.beam_size, vad_filter=False)
    results: dict[str, dict[str, float]] = {}
    for rendering in ARABIC_RENDERINGS:
        engines = voice_engines(settings.tts.model_copy(
            update={"arabic_rendering": rendering, "arabic_piper_voice": None}))  # fmt: skip
        voices = [v for v in catalog.voices if v.language == "ar"]
        for label, voice, shape in [("unshaped", voices[0], False)] + [
            (v.name, v, True) for v in voices
        ]:
            scores = []
            for sentence in ARABIC:
                pcm, rate, _e, _s = _render(engines, voice, sentence, shape)
                text = stt.transcribe(resample(pcm, rate, SAMPLE_RATE), options).text
                scores.append(_cer(sentence, text))
            results.setdefault(rendering, {})[label] = statistics.mean(scores)
    return results


def _stream_latency(settings: Settings) -> tuple[list[float], list[float]]:
    body = {"model": "playai-tts", "voice": "Fritz-PlayAI", "input": ENGLISH,
            "response_format": "pcm"}  # fmt: skip
    first_bytes: list[float] = []
    wholes: list[float] = []
    with serving(settings) as url, httpx.Client(base_url=url, timeout=120) as client:
        client.post("/v1/audio/speech", json=body)  # warm-up: loads the voice
        for _ in range(STREAM_REQUESTS):
            started = time.perf_counter()
            with client.stream("POST", "/v1/audio/speech",
                               json={**body, "stream_format": "audio"}) as response:  # fmt: skip
                first: float | None = None
                for _chunk in response.iter_raw():
                    first = first if first is not None else time.perf_counter() - started
                assert first is not None, "no audio streamed"
                first_bytes.append(first)
            started = time.perf_counter()
            client.post("/v1/audio/speech", json=body).raise_for_status()
            wholes.append(time.perf_counter() - started)
    return first_bytes, wholes


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def run_tts_bench(settings: Settings, args: argparse.Namespace) -> int:
    catalog = VoiceCatalog.load()
    engines = voice_engines(settings.tts)
    rows = _voice_rows(engines, catalog)
    cer = _arabic_cer(settings, catalog)
    first, whole = _stream_latency(settings)
    OUT_DIR.mkdir(exist_ok=True)
    raw = {"voices": [asdict(r) for r in rows], "arabic_cer": cer, "first_byte": first,
           "whole": whole}  # fmt: skip
    (OUT_DIR / "tts.json").write_text(json.dumps(raw, indent=2))
    publish(_markdown(rows, cer, first, whole, settings), args.output)
    return 0


def _markdown(
    rows: list[VoiceRow], cer: dict[str, dict[str, float]], first: list[float],
    whole: list[float], settings: Settings,
) -> str:  # fmt: skip
    lines = heading("text-to-speech")
    english = [r for r in rows if r.voice.endswith("PlayAI") and r.median_f0 > 0]
    lines += [
        "Per voice: the three-sentence English text (Arabic voices: three Arabic sentences),",
        "rendered twice, the second timed. Control: the engine alone (`engine s`); WORLD",
        "shaping is the added cost. RTF = (engine + shaping) / audio.",
        "",
        "| voice | gender | audio s | engine s | shaping s | RTF | RTF, engine alone "
        "| median F0 Hz |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in english:
        lines.append(
            f"| {r.voice} | {r.gender} | {r.audio_seconds:.2f} | {r.engine_seconds:.3f} | "
            f"{r.shaping_seconds:.3f} | {r.rtf:.3f} | {r.engine_seconds / r.audio_seconds:.3f} | "
            f"{r.median_f0:.0f} |"
        )
    piper = [r.rtf for r in rows if not r.voice.startswith(("Ahmad", "Amira", "Khalid", "Nasser"))]
    lines += [
        "",
        f"Shaped Piper voices: mean RTF {statistics.mean(piper):.3f}, worst {max(piper):.3f}.",
        "",
        f"Arabic round-trip CER (Whisper `{settings.stt.default_model}`, `language=ar`, "
        f"{len(ARABIC)} sentences, diacritics and hamza forms normalised):",
        "",
        "| rendering | " + " | ".join(next(iter(cer.values()))) + " | mean over voices |",
        "|---|" + "---|" * (len(next(iter(cer.values()))) + 1),
    ]
    for rendering, scores in cer.items():
        voices = [v for k, v in scores.items() if k != "unshaped"]
        cells = " | ".join(f"{v:.3f}" for v in scores.values())
        lines.append(f"| {rendering} | {cells} | {statistics.mean(voices):.3f} |")
    lines += [
        "",
        f"Streaming (`stream_format=audio`, pcm, Fritz-PlayAI, the English text, "
        f"{STREAM_REQUESTS} requests over loopback): first audio byte p50 "
        f"{_pct(first, 50) * 1000:.0f} ms, p95 {_pct(first, 95) * 1000:.0f} ms; control, "
        f"the whole file: p50 {_pct(whole, 50) * 1000:.0f} ms "
        f"(ratio {_pct(first, 50) / _pct(whole, 50):.2f}).",
    ]
    return "\n".join(lines)
