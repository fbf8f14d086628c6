"""`speech-pipeline bench diarize`: who-spoke-when accuracy (DER) on conversations built
from real speech and from the project's voices, and what diarization costs a request.

Accuracy, real meetings: the ten 30-s AMI excerpts in `SAMPLES/meetings` (2-4 people
each, 21 in all, short turns, overlapping speech) scored against `meetings.rttm`, per
file and over the set, with the threshold swept, and the detection floor (missed speech +
false alarm: the DER with every speaker label right).

Accuracy, built conversations: from `bench.conversations` (reference turns known by
construction), diarized in this process; among them, six same-gender pairs of the
English voices as Kokoro speaks them (one speaker each, no channel difference).
DER as pyannote.metrics defines it (missed +
false alarm + confusion over reference speech, optimal one-to-one label mapping,
overlapped speech counted per speaker), collar 0.25 s (0.125 s either side of each
reference boundary) and, for comparison, no collar. Speaker count right = as many
labels as reference speakers.

Through the words: the meetings posted to a fresh server as `diarized_json`, each
segment's speaker scored as a client sees it (whisper-base's words, one speaker each).

Cost: a fresh server process; a 10-minute real-voice conversation posted as
`response_format=json` (the control: chunked transcription), `verbose_json` and
`diarized_json`, alternating, three rounds; the median wall time of each. With
`--hour`: one hour of conversation as diarized_json and as json, each to a fresh
process: wall time and peak RSS above idle.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

from audio.media.decode import decode_audio
from audio.services.diarize import load_encoder, load_segmentation
from audio.settings import Settings
from bench.conversations import (
    Conversation,
    Speaker,
    conversation,
    monologue,
    phrases,
    real_speakers,
)
from bench.corpus import PARAGRAPHS, encoded, speak
from bench.report import heading, publish
from bench.stt import server_process, status_mb
from common.pcm import SAMPLE_RATE
from diarizer.metrics import der_parts
from diarizer.pipeline import Diarizer, Embedded
from diarizer.segmented import Segmented
from diarizer.types import DiarizeOptions, SpeakerTurn
from segmenter.vad import SileroVad

ARABIC_TEXT = (
    "مرحبا بكم في نشرة الأخبار. الطقس اليوم مشمس في معظم المناطق، مع رياح خفيفة في المساء. "
    "تفتح المكتبة أبوابها من الساعة التاسعة صباحا حتى السادسة مساء."
)
TTS_VOICES = (
    "Fritz-PlayAI", "Ahmad-PlayAI", "Celeste-PlayAI", "Amira-PlayAI", "Atlas-PlayAI",
    "Khalid-PlayAI", "Gail-PlayAI", "Nasser-PlayAI", "Mason-PlayAI", "Quinn-PlayAI",
)  # fmt: skip
"""English voices (one Piper speaker, shaped) alternating with the Arabic voices (espeak-ng)."""
SWEEP = (-0.15, -0.1, -0.05, 0.0, 0.05, 0.1)
"""The thresholds swept, around the encoder's own."""


def _thresholds(centre: float) -> tuple[float, ...]:
    return tuple(round(centre + step, 2) for step in SWEEP)


KOKORO_PAIRS = 6
"""Same-gender pairs of the English catalog voices (as Kokoro speaks them), half female."""
REAL_CONVERSATIONS = 20
SEED = 2026


def tts_speakers(count: int) -> list[Speaker]:
    """`count` of the project's voices, each reading a paragraph (Arabic voices Arabic)."""
    from voices.catalog import VoiceCatalog

    catalog = VoiceCatalog.load()
    names = TTS_VOICES[:count]
    texts = [
        ARABIC_TEXT if catalog.lookup(name).language == "ar" else PARAGRAPHS[i % len(PARAGRAPHS)]
        for i, name in enumerate(names)
    ]
    vad = SileroVad()
    return [
        Speaker(name, phrases(np.concatenate(chunks), vad))
        for name, chunks in zip(names, speak(list(zip(texts, names, strict=True))), strict=True)
    ]


def kokoro_pairs(rng: np.random.Generator) -> list[Conversation]:
    """KOKORO_PAIRS conversations, each of two English voices of one gender (Kokoro)."""
    from voices.catalog import VoiceCatalog

    english = [v for v in VoiceCatalog.load().voices if v.language == "en" and v.speaker
               and v.name.endswith("-PlayAI")]  # fmt: skip
    pairs: list[tuple[str, str]] = []
    for gender in ("female", "male"):
        names = [v.name for v in english if v.gender == gender]
        pairs += list(zip(names[0::2], names[1::2], strict=False))[: KOKORO_PAIRS // 2]
    wanted = sorted({name for pair in pairs for name in pair})
    texts = [(PARAGRAPHS[i % len(PARAGRAPHS)], name) for i, name in enumerate(wanted)]
    vad = SileroVad()
    rendered = speak(texts, "kokoro")
    spoken = {name: Speaker(name, phrases(np.concatenate(chunks), vad))
              for (_t, name), chunks in zip(texts, rendered, strict=True)}  # fmt: skip
    return [conversation(f"kokoro-{a}-{b}", [spoken[a], spoken[b]], rng) for a, b in pairs]


def meeting_references(directory: Path) -> dict[str, list[SpeakerTurn]]:
    """The turns of `meetings.rttm`, by file id."""
    turns: dict[str, list[SpeakerTurn]] = {}
    for line in (directory / "meetings.rttm").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.setdefault(fields[1], []).append(SpeakerTurn(start, start + duration, fields[7]))
    return turns


def _extra_voices(turns: Sequence[SpeakerTurn]) -> tuple[float, float]:
    """(seconds of speech beyond the first voice at each moment, seconds of speech counted
    per speaker): what a one-speaker-at-a-time diarization must miss, and the whole."""
    step = 0.01
    grid = np.zeros(round(max(t.end for t in turns) / step) + 1)
    for turn in turns:
        grid[round(turn.start / step) : round(turn.end / step)] += 1
    return float(np.maximum(grid - 1, 0).sum()) * step, float(grid.sum()) * step


def _meetings(diarizer: Diarizer, directory: Path) -> list[str]:
    """The meetings' rows: per file at the encoder's threshold, the set, the sweep."""
    refs = meeting_references(directory)
    embedded = {name: diarizer.embed_file(decode_audio(str(directory / f"{name}.flac")))
                for name in sorted(refs)}  # fmt: skip
    default = DiarizeOptions(threshold=diarizer.threshold)
    lines = [
        "", f"Real meetings (`meetings/`, {len(refs)} AMI excerpts of 30 s, overlap scored), "
        f"threshold {default.threshold}:", "",
        "| file | speakers | found | DER (collar 0.25) | DER (no collar) | DER (overlap not "
        "scored) | missed | false alarm | confusion |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    total = np.zeros(4)
    ders, bare_ders, solo_ders, floors, within = [], [], [], [], 0
    overlap = speech = 0.0
    for name in sorted(refs):
        found = diarizer.turns(embedded[name], default)
        parts = der_parts(refs[name], found.turns, 0.25)
        bare = der_parts(refs[name], found.turns, 0.0).der
        solo = der_parts(refs[name], found.turns, 0.25, skip_overlap=True).der
        solo_ders.append(solo)
        extra, all_speech = _extra_voices(refs[name])
        overlap += extra
        speech += all_speech
        speakers = len({t.speaker for t in refs[name]})
        within += abs(len(found.speakers) - speakers) <= 1
        ders.append(parts.der)
        bare_ders.append(bare)
        floors.append((parts.missed + parts.false_alarm) / parts.reference)
        total += [parts.reference, parts.missed, parts.false_alarm, parts.confusion]
        ref = parts.reference
        lines.append(f"| {name} | {speakers} | {len(found.speakers)} | {parts.der:.1%} | "
                     f"{bare:.1%} | {solo:.1%} | {parts.missed / ref:.1%} | "
                     f"{parts.false_alarm / ref:.1%} | "
                     f"{parts.confusion / ref:.1%} |")  # fmt: skip
    ref = total[0]
    lines += [
        f"| **mean of files** | | count within ±1: {within}/{len(refs)} | "
        f"**{np.mean(ders):.1%}** | {np.mean(bare_ders):.1%} | {np.mean(solo_ders):.1%} | | | |",
        f"| **whole set** (time-weighted) | | | {total[1:].sum() / ref:.1%} | | | "
        f"{total[1] / ref:.1%} | {total[2] / ref:.1%} | {total[3] / ref:.1%} |",
        f"| **detection floor** (missed + false alarm) | | | {np.mean(floors):.1%} "
        f"(set {total[1:3].sum() / ref:.1%}) | | | | | |",
        "",
        "The floor is the DER these files would score if every speaker label were right: "
        "missed speech and false alarms depend only on how many voices are heard in each "
        "moment, not on whose they are, so no labelling of the same detections goes below it.",
        "",
        f"Overlap: {overlap / speech:.1%} of the reference speech (no collar) is a second "
        "or third voice over another. "
        + ("The segmentation model labels a second voice where it hears one."
           if diarizer.segmented is not None else
           "One speaker per moment, as here, misses all of it; that share is the floor of "
           "the missed speech and of DER with overlap scored."),
        "", "Threshold sweep on the meetings:", "",
        "| threshold | mean DER | set DER | confusion | count within ±1 | exact |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for threshold in _thresholds(diarizer.threshold):
        options = DiarizeOptions(threshold=threshold)
        sweep = np.zeros(4)
        means, near, exact = [], 0, 0
        for name in sorted(refs):
            found = diarizer.turns(embedded[name], options)
            parts = der_parts(refs[name], found.turns, 0.25)
            speakers = len({t.speaker for t in refs[name]})
            near += abs(len(found.speakers) - speakers) <= 1
            exact += len(found.speakers) == speakers
            means.append(parts.der)
            sweep += [parts.reference, parts.missed, parts.false_alarm, parts.confusion]
        set_der, confusion = sweep[1:].sum() / sweep[0], sweep[3] / sweep[0]
        lines.append(f"| {threshold} | {np.mean(means):.1%} | {set_der:.1%} | {confusion:.1%} | "
                     f"{near}/{len(refs)} | {exact}/{len(refs)} |")  # fmt: skip
    return lines


def _through_words(directory: Path, pipeline: str) -> list[str]:
    """The meetings as a client sees them: each posted as diarized_json to a fresh server
    (whisper-base, English) and its segments, one speaker per word, scored."""
    refs = meeting_references(directory)
    env = {"SPEECH_LOG_LEVEL": "warning"}
    rows, ders, within = [], [], 0
    with server_process(env) as (url, _p), httpx.Client(base_url=url, timeout=600) as client:
        for name in sorted(refs):
            audio = (directory / f"{name}.flac").read_bytes()
            r = client.post("/v1/audio/transcriptions",
                            data={"model": "whisper-base", "response_format": "diarized_json",
                                  "language": "en"},
                            files={"file": (f"{name}.flac", audio, "audio/flac")})  # fmt: skip
            r.raise_for_status()
            found = [SpeakerTurn(s["start"], s["end"], s["speaker"]) for s in r.json()["segments"]]
            speakers, labels = len({t.speaker for t in refs[name]}), len({t.speaker for t in found})
            der = der_parts(refs[name], found, 0.25).der
            ders.append(der)
            within += abs(labels - speakers) <= 1
            rows.append(f"| {name} | {speakers} | {labels} | {der:.1%} |")
    return [
        "", f"The meetings through Whisper's words ({pipeline}): each posted to a fresh "
        "server as `diarized_json` (whisper-base, `language=en`), its segments scored "
        "(collar 0.25; a word has one speaker, so overlap is always partly missed):", "",
        "| file | speakers | found | DER (collar 0.25) |", "|---|---|---|---|", *rows,
        f"| **mean of files** | | count within ±1: {within}/{len(refs)} | "
        f"**{np.mean(ders):.1%}** |",
    ]  # fmt: skip


def _score(
    diarizer: Diarizer, convs: Sequence[Conversation], embedded: Sequence[Embedded | Segmented],
    options: DiarizeOptions, collar: float = 0.25,
) -> tuple[float, int, float]:  # fmt: skip
    """(DER over the set, conversations with the right count, worst single DER)."""
    error = reference = worst = 0.0
    right = 0
    for conv, emb in zip(convs, embedded, strict=True):
        found = diarizer.turns(emb, options)
        parts = der_parts(conv.turns, found.turns, collar)
        error += parts.der * parts.reference
        reference += parts.reference
        worst = max(worst, parts.der)
        right += len(found.speakers) == conv.speakers
    return error / max(reference, 1e-9), right, worst


def _post(client: httpx.Client, body: bytes, response_format: str) -> float:
    started = time.perf_counter()
    r = client.post("/v1/audio/transcriptions",
                    data={"model": "whisper-base", "response_format": response_format},
                    files={"file": ("talk.mp3", body, "audio/mpeg")})  # fmt: skip
    r.raise_for_status()
    return time.perf_counter() - started


def _cost(long: np.ndarray) -> dict[str, float]:
    body = encoded(long, "mp3")
    env = {"SPEECH_LOG_LEVEL": "warning", "SPEECH_LIMITS__MAX_UPLOAD_BYTES": "200000000"}
    times: dict[str, list[float]] = {"json": [], "verbose_json": [], "diarized_json": []}
    with server_process(env) as (url, _p), httpx.Client(base_url=url, timeout=3600) as c:
        _post(c, encoded(long[: 20 * SAMPLE_RATE], "mp3"), "diarized_json")  # load both
        for _ in range(3):
            for fmt in times:
                times[fmt].append(_post(c, body, fmt))
    return {fmt: statistics.median(values) for fmt, values in times.items()}


def _hour(long: np.ndarray, response_format: str) -> tuple[float, float, float]:
    """(seconds, idle RSS MB, peak RSS MB) of one hour in a fresh process."""
    reps = -(-3600 * SAMPLE_RATE // long.shape[0])
    hour = np.tile(long, reps)[: 3600 * SAMPLE_RATE]
    env = {"SPEECH_LOG_LEVEL": "warning", "SPEECH_LIMITS__MAX_UPLOAD_BYTES": "200000000"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hour.mp3"
        path.write_bytes(encoded(hour, "mp3"))
        del hour
        with server_process(env) as (url, process), httpx.Client(base_url=url, timeout=7200) as c:
            _post(c, encoded(long[: 20 * SAMPLE_RATE], "mp3"), response_format)
            time.sleep(1.0)
            idle = status_mb(process.pid, "VmRSS")
            took = _post(c, path.read_bytes(), response_format)
            peak = status_mb(process.pid, "VmHWM")
    return took, idle, peak


def run_diarize_bench(settings: Settings, args: argparse.Namespace) -> int:
    if not args.samples:
        print("bench diarize needs real speech: --samples ../shared/samples")
        return 2
    vad = SileroVad()
    diarizer = Diarizer(
        load_encoder(settings.diarization), vad, load_segmentation(settings.diarization)
    )
    rng = np.random.default_rng(SEED)
    real = real_speakers(Path(args.samples), vad)
    real2 = [conversation(f"real-{i}", real, rng) for i in range(REAL_CONVERSATIONS)]
    real1 = [monologue(f"alone-{s.name}-{i}", s, rng) for s in real for i in range(3)]
    voices = tts_speakers(len(TTS_VOICES))
    cross = [conversation(f"tts-{a.name}-{b.name}", [a, b], rng)
             for a, b in zip(voices[0::2], voices[1::2], strict=True)]  # fmt: skip
    english = [v for v in voices if v.name not in {"Ahmad-PlayAI", "Amira-PlayAI",
                                                    "Khalid-PlayAI", "Nasser-PlayAI"}]  # fmt: skip
    shaped = [conversation(f"shaped-{a.name}-{b.name}", [a, b], rng)
              for a, b in zip(english[0::2], english[1::2], strict=True)]  # fmt: skip
    kokoro = kokoro_pairs(rng)
    sets = {
        "real voices, 2 speakers": real2,
        "real voices, 1 speaker": real1,
        "TTS, Piper English vs espeak-ng Arabic voice": cross,
        "TTS, two shaped variants of the one Piper speaker": shaped,
        "TTS, Kokoro: same-gender pairs of the English voices": kokoro,
    }
    started = time.perf_counter()
    embedded = {name: [diarizer.embed_file(c.samples) for c in convs]
                for name, convs in sets.items()}  # fmt: skip
    real2_emb, real1_emb, _cross_emb, shaped_emb, kokoro_emb = embedded.values()
    embed_seconds = time.perf_counter() - started
    audio_seconds = sum(c.samples.shape[0] for convs in sets.values() for c in convs) / SAMPLE_RATE
    default = DiarizeOptions(threshold=diarizer.threshold)
    segmented = diarizer.segmented is not None
    pipeline = "segmentation model" if segmented else "VAD windows"
    lines = heading(
        f"diarization (DER, speaker count, cost), {settings.diarization.encoder} encoder, "
        f"{pipeline}"
    )
    lines += [
        "Conversations built by `bench/conversations.py` (seed "
        f"{SEED}): phrases of each voice cut at its pauses, alternating speakers, gaps of "
        "0.1-0.8 s, a quarter of the turns overlapping the previous one by 0.2-0.6 s, a "
        "fifth of them short (0.4-1.0 s). Real voices: JFK (`jfk.flac`) and the reader of "
        "the English half of `multilingual.mp3`. DER as pyannote.metrics defines it; collar "
        f"0.25 s (0.125 s each side of a reference boundary). Threshold {default.threshold}, "
        f"speaker count found automatically unless stated. Encoder: {settings.diarization.encoder} "
        "(`SPEECH_DIARIZATION__ENCODER`); "
        + (
            "pyannote's segmentation model cuts the files (`SPEECH_DIARIZATION__SEGMENTATION=true`)"
            if segmented
            else "Silero VAD regions and fixed windows"
        )
        + "; the cost runs below use the same.",
        "",
        "| set | files | audio | DER (collar 0.25) | DER (no collar) | worst file | count right |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, convs in sets.items():
        der, right, worst = _score(diarizer, convs, embedded[name], default)
        bare, _r, _w = _score(diarizer, convs, embedded[name], default, collar=0.0)
        seconds = sum(c.samples.shape[0] for c in convs) / SAMPLE_RATE
        lines.append(f"| {name} | {len(convs)} | {seconds:.0f} s | {der:.1%} | {bare:.1%} | "
                     f"{worst:.1%} | {right}/{len(convs)} |")  # fmt: skip
    two = DiarizeOptions(min_speakers=2, max_speakers=2)
    for label, convs, embs in (("shaped Piper pair", shaped, shaped_emb),
                               ("Kokoro same-gender pair", kokoro, kokoro_emb)):  # fmt: skip
        der, right, worst = _score(diarizer, convs, embs, two)
        lines.append(f"| {label}, `min_speakers=max_speakers=2` | {len(convs)} | | "
                     f"{der:.1%} | | {worst:.1%} | {right}/{len(convs)} |")  # fmt: skip
    lines += _meetings(diarizer, Path(args.samples) / "meetings")
    lines += _through_words(Path(args.samples) / "meetings", pipeline)
    lines += ["", "Threshold sensitivity, real voices (2 speakers and 1 speaker together):", "",
              "| threshold | DER | count right |", "|---|---|---|"]  # fmt: skip
    both = real2 + real1
    both_emb = real2_emb + real1_emb
    for threshold in _thresholds(diarizer.threshold):
        der, right, _w = _score(diarizer, both, both_emb, DiarizeOptions(threshold=threshold))
        lines.append(f"| {threshold} | {der:.1%} | {right}/{len(both)} |")
    lines += ["", f"Embedding all sets: {embed_seconds:.1f} s for {audio_seconds:.0f} s of audio "
              f"({audio_seconds / embed_seconds:.0f}x real time, VAD included)."]  # fmt: skip
    long = np.concatenate([c.samples for c in real2])[: 600 * SAMPLE_RATE]
    cost = _cost(long)
    lines += [
        "",
        f"Cost, {long.shape[0] / SAMPLE_RATE:.0f} s real-voice conversation (mp3) to a fresh "
        "`serve` process, median of 3 alternating rounds:",
        "",
        "| response_format | wall time | vs json (control) |",
        "|---|---|---|",
    ]
    for fmt, seconds in cost.items():
        lines.append(f"| {fmt} | {seconds:.2f} s | {seconds / cost['json']:.2f}x |")
    if args.hour:
        hour_diarized = _hour(long, "diarized_json")
        hour_plain = _hour(long, "json")
        lines += ["", "One hour of the conversation (mp3), each to a fresh process:", "",
                  "| response_format | wall time | RSS idle | peak | peak above idle |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for fmt, (took, idle, peak) in (("json", hour_plain), ("diarized_json", hour_diarized)):
            lines.append(f"| {fmt} | {took:.0f} s | {idle:.0f} MB | {peak:.0f} MB | "
                         f"+{peak - idle:.0f} MB |")  # fmt: skip
    publish("\n".join(lines), args.output)
    return 0
