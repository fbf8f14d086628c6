"""Speech-to-text: the Whisper engines, the cross-request batcher and the model registry.

Framework-free: no HTTP, no settings objects, no output formats (those live in
`audio/`). The seam is `SttEngine` (transcriber.types), implemented by
`SequentialEngine` (faster-whisper's sliding window) and `ChunkedEngine` (VAD
windows from `segmenter/`, batched across requests). faster-whisper itself is
reached only through the typed facade in `transcriber.whisper`.
"""
