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
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

from audio.media.encode import DEFAULT_SPEECH_SAMPLE_RATE, resample
from audio.services.diarize import load_encoder
from audio.settings import Settings
from audio.wiring import stt_registry, voice_engines
from bench.report import OUT_DIR, error_rate, heading, publish, word_error_rate
from bench.server import serving
from common.pcm import SAMPLE_RATE
from diarizer.types import SpeakerEncoder
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


# -- Kokoro beside Piper ---------------------------------------------------------------

TEN = (
    "The meeting starts at 9:30 tomorrow morning.",
    "Please send 24 copies to Margaret Thompson.",
    "Could you tell me where the nearest train station is?",
    "Our revenue grew by 15% in the last quarter.",
    "Doctor Patel will see you on the third floor.",
    "I would like two coffees and a slice of lemon cake.",
    "Is it going to rain in Chicago this weekend?",
    "The package was delivered to 42 Baker Street.",
    "Remember to call your grandmother on Sunday evening.",
    "How many people have signed up for the workshop?",
)
"""Fixed sentences for the round trip: numbers, names and questions (numbers written as
Whisper writes them, so the reference and the transcript compare like for like)."""
AGENT_REPLY = (
    "Sure, I can help with that. Your order shipped this morning and should arrive on "
    "Thursday. Is there anything else I can do for you?"
)
"""What a voice agent says in one turn (2-3 sentences)."""
FIRST_BYTE_REQUESTS = 8
CONCURRENCY = (1, 2, 4)


def _speak(client: httpx.Client, voice: str, text: str, fmt: str = "pcm") -> bytes:
    body = {"model": "tts-1", "voice": voice, "input": text, "response_format": fmt,
            "stream": False}  # fmt: skip
    response = client.post("/v1/audio/speech", json=body)
    response.raise_for_status()
    return response.content


def _pcm(data: bytes) -> Pcm:
    samples: Pcm = np.frombuffer(data, "<i2").astype(np.float32) / np.float32(32768)
    return samples


@dataclass(frozen=True)
class EngineVoice:
    """One English voice through one engine in `bench voices`."""

    wer: float
    """Mean WER over TEN, and over every render of each where the engine samples."""
    rtf: float
    """Request time / audio, over every render."""
    round_wers: tuple[float, ...]
    """The mean WER of each round (one where the engine renders the same audio each time)."""
    audio: Pcm
    """16-kHz audio of the first three sentences (first round), for the speaker encoder."""


ROUNDS = 3
"""Renders per sentence for an engine that samples (Piper draws its noise afresh on each
request, so one render of one sentence is one draw of its WER); an engine whose two
renders of the same text are identical (Kokoro) is rendered once."""


def _engine_voices(
    settings: Settings, engine: str, catalog: VoiceCatalog
) -> dict[str, EngineVoice]:
    """Per English voice: WER over TEN, RTF and the first three sentences' audio."""
    stt = SequentialEngine(stt_registry(settings).get(settings.stt.default_model))
    options = SttOptions(language="en", beam_size=settings.stt.beam_size, vad_filter=False)
    tts = settings.tts.model_copy(update={"english_engine": engine})
    out: dict[str, EngineVoice] = {}
    english = [v for v in catalog.voices if v.name.endswith("-PlayAI") and v.language == "en"]
    with serving(settings.model_copy(update={"tts": tts, "warmup": False})) as url, \
            httpx.Client(base_url=url, timeout=300) as client:  # fmt: skip
        _speak(client, english[0].name, "Warming up.")
        sampled = _speak(client, english[0].name, TEN[0]) != _speak(client, english[0].name, TEN[0])
        rounds = ROUNDS if sampled else 1
        for voice in english:
            round_wers, spent, heard = [], 0.0, 0.0
            kept: list[Pcm] = []
            for _ in range(rounds):
                errors = []
                for sentence in TEN:
                    started = time.perf_counter()
                    audio = _pcm(_speak(client, voice.name, sentence))
                    spent += time.perf_counter() - started
                    heard += audio.shape[0] / DEFAULT_SPEECH_SAMPLE_RATE
                    speech = resample(audio, DEFAULT_SPEECH_SAMPLE_RATE, SAMPLE_RATE)
                    errors.append(word_error_rate(sentence, stt.transcribe(speech, options).text))
                    if len(kept) < 3:
                        kept.append(speech)
                round_wers.append(statistics.mean(errors))
            out[voice.name] = EngineVoice(statistics.mean(round_wers), spent / heard,
                                          tuple(round_wers), np.concatenate(kept))  # fmt: skip
    return out


def _distances(encoder: SpeakerEncoder, audio: dict[str, Pcm]) -> dict[tuple[str, str], float]:
    """Cosine distance between each pair of voices' speaker embeddings."""
    unit = {}
    for name, pcm in audio.items():
        embedding = encoder.embed_utterance(pcm)
        unit[name] = embedding / np.linalg.norm(embedding)
    names = sorted(unit)
    return {(a, b): 1.0 - float(unit[a] @ unit[b])
            for i, a in enumerate(names) for b in names[i + 1 :]}  # fmt: skip


def _first_bytes(settings: Settings, engine: str) -> tuple[list[float], float]:
    """A default openai-SDK speech request (streamed, no stream_format), AGENT_REPLY:
    the first byte's latency; and, in pcm, the worst margin by which a chunk arrived
    before the audio already sent had finished playing (negative: playback starved)."""
    import openai

    tts = settings.tts.model_copy(update={"english_engine": engine})
    firsts: list[float] = []
    worst = float("inf")
    with serving(settings.model_copy(update={"tts": tts, "warmup": False})) as url:
        client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)
        for index in range(FIRST_BYTE_REQUESTS + 1):
            fmt = "mp3" if index % 2 else "pcm"
            started = time.perf_counter()
            with client.audio.speech.with_streaming_response.create(
                model="tts-1",
                voice="alloy",
                input=AGENT_REPLY,
                response_format=fmt,  # type: ignore[arg-type]
            ) as response:
                arrivals = [(time.perf_counter() - started, len(c)) for c in response.iter_bytes()]
            if index == 0:
                continue  # the warm-up
            firsts.append(arrivals[0][0])
            if fmt == "pcm":
                played, start = 0.0, arrivals[0][0]
                for at, size in arrivals:
                    worst = min(worst, start + played - at) if played else worst
                    played += size / 2 / DEFAULT_SPEECH_SAMPLE_RATE
    return firsts, worst


def _concurrent_rtf(settings: Settings, engine: str) -> dict[int, float]:
    """Mean real-time factor of AGENT_REPLY when N requests run at once."""
    from concurrent.futures import ThreadPoolExecutor

    tts = settings.tts.model_copy(update={"english_engine": engine})
    result: dict[int, float] = {}
    with serving(settings.model_copy(update={"tts": tts, "warmup": False})) as url, \
            httpx.Client(base_url=url, timeout=600) as client:  # fmt: skip
        _speak(client, "alloy", "Warming up.")

        def one(_: int) -> float:
            started = time.perf_counter()
            seconds = len(_speak(client, "alloy", AGENT_REPLY)) / 2 / DEFAULT_SPEECH_SAMPLE_RATE
            return (time.perf_counter() - started) / seconds

        for n in CONCURRENCY:
            with ThreadPoolExecutor(n) as pool:
                result[n] = statistics.mean(pool.map(one, range(n)))
    return result


def _peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def run_voices_bench(settings: Settings, args: argparse.Namespace) -> int:
    """`bench voices`: Kokoro beside Piper, in one run."""
    catalog = VoiceCatalog.load()
    per_engine = {engine: _engine_voices(settings, engine, catalog)
                  for engine in ("kokoro", "piper")}  # fmt: skip
    encoder = load_encoder(settings.diarization)  # the configured one of `diarizer/`
    distances = {e: _distances(encoder, {v: r.audio for v, r in rows.items()})
                 for e, rows in per_engine.items()}  # fmt: skip
    # The pipelines cluster at different distances: the segmentation pipeline (the default
    # where its weights are installed) whole local speakers, the window pipeline windows.
    thresholds = (
        {"the configured": settings.diarization.threshold}
        if settings.diarization.threshold
        else {"the segmentation pipeline's": encoder.segment_threshold,
              "the window pipeline's": encoder.threshold}
    )  # fmt: skip
    latency = {e: _first_bytes(settings, e) for e in ("kokoro", "piper")}
    concurrency = {e: _concurrent_rtf(settings, e) for e in ("kokoro", "piper")}
    rss = _peak_rss_mb()
    raw = {"wer_rtf": {e: {v: [r.wer, r.rtf, list(r.round_wers)] for v, r in rows.items()}
                       for e, rows in per_engine.items()},
           "distances": {e: {f"{a}|{b}": d for (a, b), d in ds.items()}
                         for e, ds in distances.items()},
           "thresholds": thresholds, "first_byte": latency, "concurrency": concurrency,
           "peak_rss_mb": rss}  # fmt: skip
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "voices.json").write_text(json.dumps(raw, indent=2))
    publish(_voices_markdown(per_engine, (distances, thresholds), latency, concurrency, rss,
                             settings), args.output)  # fmt: skip
    return 0


def _wer_cell(row: EngineVoice) -> str:
    """The mean WER, with the lowest and highest round where there are several."""
    if len(row.round_wers) == 1:
        return f"{row.wer:.3f}"
    return f"{row.wer:.3f} ({min(row.round_wers):.3f}-{max(row.round_wers):.3f})"


def _rounds(rows: Iterable[EngineVoice]) -> str:
    count = max(len(r.round_wers) for r in rows)
    if count == 1:
        return "one render per sentence: two renders of the same text were identical"
    return (
        f"{count} renders per sentence, since two of the same text differed; the "
        "brackets hold the lowest and highest round"
    )


def _voices_markdown(
    per_engine: dict[str, dict[str, EngineVoice]],
    measured: tuple[dict[str, dict[tuple[str, str], float]], dict[str, float]],
    latency: dict[str, tuple[list[float], float]], concurrency: dict[str, dict[int, float]],
    rss: float, settings: Settings,
) -> str:  # fmt: skip
    distances, thresholds = measured  # voice pairs' distances, the clustering thresholds
    lines = heading("voices: Kokoro-82M beside Piper")
    lines += [
        f"Each of the 19 English voices reads {len(TEN)} fixed sentences (numbers, names, "
        "questions) over HTTP (pcm, whole), several times where the engine samples its "
        "output; the embedded Whisper transcribes each "
        "(`language=en`, sequential); RTF = request time / audio. Distinctness: the speaker "
        f"encoder of `diarizer/` ({settings.diarization.encoder}) on three sentences per "
        "voice, cosine distance between every pair, against its clustering thresholds ("
        + ", ".join(f"{who} {t}" for who, t in thresholds.items())
        + ").",
        "",
        "| voice | Kokoro speaker | WER Kokoro | WER Piper | RTF Kokoro | RTF Piper |",
        "|---|---|---|---|---|---|",
    ]
    catalog = VoiceCatalog.load()
    for name in per_engine["kokoro"]:
        k, p = per_engine["kokoro"][name], per_engine["piper"][name]
        lines.append(f"| {name} | {catalog.lookup(name).speaker} | {_wer_cell(k)} | "
                     f"{_wer_cell(p)} | {k.rtf:.2f} | {p.rtf:.2f} |")  # fmt: skip
    for engine in ("kokoro", "piper"):
        rows = per_engine[engine].values()
        pairs = distances[engine]
        close = "; ".join(
            f"within {who} threshold {sum(d <= t for d in pairs.values())} of {len(pairs)}"
            for who, t in thresholds.items()
        )
        (a, b), nearest = min(pairs.items(), key=lambda item: item[1])
        lines += [
            "",
            f"{engine}: mean WER {statistics.mean(r.wer for r in rows):.3f} "
            f"({_rounds(rows)}), mean RTF {statistics.mean(r.rtf for r in rows):.2f}; voice "
            f"pairs {close}; nearest pair {a} / {b} at "
            f"{nearest:.3f}, median "
            f"{statistics.median(pairs.values()):.3f}, farthest {max(pairs.values()):.3f}.",
        ]
    kokoro, piper = per_engine["kokoro"], per_engine["piper"]
    worse = [v for v in kokoro if kokoro[v].wer > piper[v].wer]
    lines += ["", f"Kokoro worse than Piper's mean on {len(worse)} of {len(kokoro)} voices"
              + (f" ({', '.join(worse)})." if worse else ".")]  # fmt: skip
    lines += ["", "| | first byte p50 | p95 | worst chunk margin (pcm) | "
              + " | ".join(f"RTF, {n} at once" for n in CONCURRENCY) + " |",
              "|---|---|---|---|" + "---|" * len(CONCURRENCY)]  # fmt: skip
    for engine in ("kokoro", "piper"):
        firsts, margin = latency[engine]
        cells = " | ".join(f"{concurrency[engine][n]:.2f}" for n in CONCURRENCY)
        p50, p95 = _pct(firsts, 50) * 1000, _pct(firsts, 95) * 1000
        lines.append(f"| {engine} | {p50:.0f} ms | {p95:.0f} ms | {margin * 1000:+.0f} ms | "
                     f"{cells} |")  # fmt: skip
    held = {e: max((n for n in CONCURRENCY if concurrency[e][n] < 1.0), default=0)
            for e in concurrency}  # fmt: skip
    lines += [
        "",
        f"First byte: a default openai-SDK request ({FIRST_BYTE_REQUESTS} of them, mp3 and "
        f'pcm alternating, voice alloy), the agent reply "{AGENT_REPLY[:40]}…". Real-time '
        f"streams held (RTF < 1): Kokoro {held['kokoro']}, Piper {held['piper']} (of "
        f"{', '.join(map(str, CONCURRENCY))} tried). Peak RSS of the bench process with both "
        f"engines and Whisper loaded: {rss:.0f} MB.",
    ]
    return "\n".join(lines)
