"""speech-pipeline: the service behind the /audio routes (STT, translation)."""

__version__ = "0.1.0"
