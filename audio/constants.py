"""Constants of the service shell, named once."""

MIN_AUDIO_SECONDS = 0.01
"""Shorter audio is refused with a 400 (contract: Limits)."""

MAX_PROMPT_CHARS = 896
"""Groq's limit on `prompt`."""

REQUEST_ID_PREFIX = "req_"
"""Request ids look like OpenAI's (`req_` + 26 hex digits)."""
