"""Constants of the segmenter, named once."""

from common.pcm import SAMPLE_RATE

"""Input rate (Whisper's and Silero's), defined in common.pcm."""

__all__ = [
    "CONTEXT_SAMPLES",
    "FRAME_SAMPLES",
    "MAX_WINDOW_SECONDS",
    "MIN_WINDOW_SECONDS",
    "SAMPLE_RATE",
]

FRAME_SAMPLES = 512
"""Silero VAD frame: 32 ms at 16 kHz."""
CONTEXT_SAMPLES = 64
"""Samples of the previous frame Silero v5/v6 sees before each frame."""
MAX_WINDOW_SECONDS = 30.0
"""Whisper decodes 30-s windows."""
MIN_WINDOW_SECONDS = 10.0
"""Groq's advice: windows shorter than this lose context; merge up to it where possible."""
