"""Limits every entry point shares."""

MAX_PROMPT_CHARS = 896
"""Longest `prompt` (Groq's limit, about Whisper's 224-token prompt window): the HTTP
routes, batch lines and realtime sessions alike."""
