"""The 30-second segmenter: voice activity -> speech regions -> <=30-s windows.

Pure numpy plus the Silero VAD model (ONNX, shipped with faster-whisper). It
knows nothing of HTTP, files or Whisper: it takes samples and returns windows
with the map from window time back to the file's timeline.
"""

from segmenter.constants import FRAME_SAMPLES, MAX_WINDOW_SECONDS, MIN_WINDOW_SECONDS, SAMPLE_RATE

__all__ = ["FRAME_SAMPLES", "MAX_WINDOW_SECONDS", "MIN_WINDOW_SECONDS", "SAMPLE_RATE"]
