"""`bench diacritizers`: piper's libtashkeel port (in use) beside `dengjen-tashkeel-py`.

Both add harakat to the same Arabic sentences; the report counts the sentences on which
they agree, the time each takes, and, where they differ, the round-trip CER through
espeak-ng's Arabic voice and the embedded Whisper (`language=ar`) with each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from audio.media.encode import resample
from audio.settings import Settings
from audio.wiring import stt_registry
from bench.report import heading, publish
from bench.tts import ARABIC, _cer
from common.pcm import SAMPLE_RATE
from transcriber.sequential import SequentialEngine
from transcriber.types import SttOptions
from voices.text import normalise

MORE_ARABIC = (
    "وصل القطار إلى المحطة في الساعة 7:45 صباحا.",
    "ارتفعت الأسعار بنسبة 12% هذا العام.",
    "هل تستطيع أن ترسل لي التقرير قبل يوم الخميس؟",
    "كتب الطالب رسالة طويلة إلى معلمه.",
    "يعيش في هذه المدينة أكثر من 2500000 شخص.",
    "قرأت الكتاب مرتين ولم أفهم الفصل الأخير.",
    "الشمس تشرق من الشرق وتغرب في الغرب.",
    "اتصلت بك أمس ولكنك لم ترد على الهاتف.",
)
"""Sentences beyond the TTS bench's six: times, percentages, big numbers, a question."""


def _diacritizers() -> dict[str, Callable[[str], str]]:
    import dengjen_tashkeel_py
    from piper.tashkeel import TashkeelDiacritizer

    libtashkeel = TashkeelDiacritizer()
    dengjen_tashkeel_py.init()
    return {"piper libtashkeel (in use)": lambda s: str(libtashkeel(s)),
            "dengjen-tashkeel-py 3.0.2": dengjen_tashkeel_py.tashkeel}  # fmt: skip


def run_diacritizer_bench(settings: Settings, args: argparse.Namespace) -> int:
    from voices.engines.espeak_engine import EspeakEngine, EspeakLibrary

    sentences = [normalise(s, "ar") for s in (*ARABIC, *MORE_ARABIC)]
    marked: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for name, diacritize in _diacritizers().items():
        diacritize(sentences[0])  # warm
        started = time.perf_counter()
        marked[name] = [diacritize(s) for s in sentences]
        seconds[name] = (time.perf_counter() - started) / len(sentences)
    (a, first), (b, second) = marked.items()
    differ = [i for i, (x, y) in enumerate(zip(first, second, strict=True)) if x != y]
    espeak = EspeakEngine(EspeakLibrary(), "ar")
    stt = SequentialEngine(stt_registry(settings).get(settings.stt.default_model))
    options = SttOptions(language="ar", beam_size=settings.stt.beam_size, vad_filter=False)
    cer: dict[str, list[float]] = {a: [], b: []}
    for i in differ:
        for name in (a, b):
            pcm = espeak.render(marked[name][i], 1.0)
            text = stt.transcribe(resample(pcm, espeak.sample_rate, SAMPLE_RATE), options).text
            cer[name].append(_cer(sentences[i], text))
    lines = heading("diacritizers: libtashkeel beside dengjen-tashkeel-py")
    lines += [
        f"{len(sentences)} Arabic sentences (the TTS bench's six and eight more with times, "
        "percentages, large numbers and a question), normalised as the TTS front-end does.",
        "",
        "| diacritizer | ms per sentence | round-trip CER where they differ |",
        "|---|---|---|",
    ]
    for name in (a, b):
        mean = f"{statistics.mean(cer[name]):.3f}" if cer[name] else "n/a"
        lines.append(f"| {name} | {seconds[name] * 1000:.1f} | {mean} |")
    lines += ["", f"They agree letter for letter on {len(sentences) - len(differ)} of "
              f"{len(sentences)} sentences."]  # fmt: skip
    for i in differ:
        lines += [f"- `{first[i]}` / `{second[i]}`"]
    publish("\n".join(lines) + "\n", args.output)
    return 0
