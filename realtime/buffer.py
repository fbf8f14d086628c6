"""A session's audio at 16 kHz on its own timeline (samples since the first append),
kept only as far back as a turn may still need."""

from __future__ import annotations

import numpy as np

from common.pcm import Float32Pcm


class AudioBuffer:
    """The buffered audio: `start` is the session sample of its first sample."""

    def __init__(self) -> None:
        self._chunks: list[Float32Pcm] = []
        self.start = 0
        """Session sample index of the first buffered sample."""
        self.received = 0
        """Samples received so far."""

    def append(self, pcm: Float32Pcm) -> None:
        self._chunks.append(pcm)
        self.received += pcm.shape[0]

    def _whole(self) -> Float32Pcm:
        audio = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [audio]
        return audio

    def slice(self, start: int, end: int) -> Float32Pcm:
        """A copy of session samples [start, end) (what is still buffered of them)."""
        if not self._chunks:
            return np.zeros(0, np.float32)
        audio = self._whole()
        return audio[max(0, start - self.start) : max(0, end - self.start)].copy()

    def drop_before(self, sample: int) -> None:
        """Forget buffered audio before session sample `sample`."""
        if sample <= self.start:
            return
        if not self._chunks:
            self.start = sample
            return
        audio = self._whole()
        cut = min(sample - self.start, audio.shape[0])
        rest = audio[cut:]
        self._chunks = [rest] if rest.shape[0] else []
        self.start += cut

    def bound(self, in_turn: bool, padding: int, frame: int, limit: int) -> bool:
        """Keep what a turn may still need: before any speech only the prefix padding
        (and a frame; the rest is silence by the VAD), within a turn at most `limit`
        samples. True when audio of a turn was dropped."""
        if not in_turn:
            self.drop_before(self.received - padding - frame)
            return False
        if self.received - self.start <= limit:
            return False
        self.drop_before(self.received - limit)
        return True
