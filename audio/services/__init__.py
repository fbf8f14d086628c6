"""The capability seams: each wraps a framework-free room (transcriber, voices, diarizer,
realtime) for the service, on the shared bounded inference pool, and holds the one
transcription request every entry point parses."""
