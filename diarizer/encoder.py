"""The speaker encoder: Resemblyzer's GE2E voice encoder run on numpy.

Resemblyzer 0.1.4 (Apache-2.0) ships its trained weights (`pretrained.pt`, 17 MB) in
its wheel; its own code needs torch, librosa and webrtcvad. Only the weights are used
here: a 40-band mel power spectrogram (25-ms Hann frames every 10 ms, Slaney mel
scale, no log, as librosa computes it), a 3-layer LSTM of 256 units, a linear layer,
ReLU and L2 normalisation. The last hidden state of a 1.6-s partial (160 frames) is
its embedding, as in the original. The weights are located without importing the
package (which would import torch), checked by sha256, and read by
`diarizer.weights`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from common.pcm import SAMPLE_RATE, Float32Pcm
from diarizer.errors import EncoderNotInstalled, WeightsInvalid
from diarizer.weights import check_sha256, read_legacy_checkpoint

F32 = npt.NDArray[np.float32]

WEIGHTS_PACKAGE = "resemblyzer"
"""The PyPI package whose wheel carries the weights (`pip install --no-deps resemblyzer`)."""
WEIGHTS_FILE = "pretrained.pt"
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
"""sha256 of `pretrained.pt` in resemblyzer 0.1.4."""
N_FFT = 400
"""25-ms analysis frames at 16 kHz."""
HOP = 160
"""10-ms frame step: one mel frame per HOP samples."""
N_MELS = 40
PARTIAL_FRAMES = 160
"""Frames in one partial utterance (1.6 s): what one embedding sees."""
EMBEDDING_SIZE = 256
_BATCH = 16
"""Partials per LSTM pass: larger batches are no faster here. Embedding 64 clips at a
time held +79 MB at its peak with 32 a pass, +26 MB with 16 (0.54 and 0.52 s per 64),
+10 MB with 8 but 0.75 s; a batch of 128 held ~350 MB (an hour of speech)."""


def default_weights_path() -> Path:
    """`pretrained.pt` in the installed resemblyzer package (not imported: it needs torch)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderNotInstalled(
            "the speaker encoder's weights are not installed: "
            "`pip install --no-deps resemblyzer==0.1.4` (make install does this)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise EncoderNotInstalled(f"{path} is missing")
    return path


# Slaney's mel scale: linear below 1 kHz (200/3 Hz a mel), logarithmic above.
_HZ_PER_MEL = 200.0 / 3
_LOG_HZ = 1000.0
_LOG_MEL = _LOG_HZ / _HZ_PER_MEL
_LOG_STEP = float(np.log(6.4) / 27.0)


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    logpart = _LOG_MEL + np.log(np.maximum(hz, _LOG_HZ) / _LOG_HZ) / _LOG_STEP
    return np.where(hz >= _LOG_HZ, logpart, hz / _HZ_PER_MEL)


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    logpart = _LOG_HZ * np.exp(_LOG_STEP * (mel - _LOG_MEL))
    return np.where(mel >= _LOG_MEL, logpart, _HZ_PER_MEL * mel)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE) -> F32:
    """Triangular filters on the Slaney mel scale, area-normalised (n_mels, n_fft//2+1)."""
    fft_hz = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(rate / 2.0)),
                                   n_mels + 2))  # fmt: skip
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_frames(audio: Float32Pcm, filters: F32) -> F32:
    """Mel power frames (n_frames, N_MELS) of 16-kHz audio, centred frames, zero padding:
    frame i covers samples around i * HOP."""
    padded = np.pad(audio.astype(np.float32, copy=False), N_FFT // 2)
    count = 1 + (padded.shape[0] - N_FFT) // HOP
    if count <= 0:
        return np.zeros((0, N_MELS), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann
    spectrum = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32) ** 2
    return np.ascontiguousarray(spectrum @ filters.T)


@dataclass(frozen=True)
class _Layer:
    w_ih: F32
    w_hh: F32
    bias: F32


THRESHOLD = 0.45
"""Clustering distance swept on the AMI meetings and the real voices by `speech-pipeline
bench diarize`: 0.4 counts the meetings better (7/10 within one, against 5/10) but
splits JFK's 11-s speech into two speakers, so 0.45 stays."""
SEGMENT_THRESHOLD = 0.3
"""Clustering distance of whole local speakers (up to four 1.6-s partials averaged) in
the segmentation pipeline, swept on the meetings and real voices by `bench diarize`
(chunks every 5 s: 0.3 gives 34.1% mean DER and 8/10 counts within one, 0.25 34.9%
and 7/10; the real voices 1.6% at both)."""
KNOWN_MIN_SIMILARITY = 0.7
"""A speaker takes a known name only if its voice is at least this close (cosine)."""


class VoiceEncoder:
    """Embeds 1.6-s partials: unit vectors of EMBEDDING_SIZE; same voice, high cosine."""

    threshold = THRESHOLD
    segment_threshold = SEGMENT_THRESHOLD
    known_min_similarity = KNOWN_MIN_SIMILARITY

    def __init__(self, layers: list[_Layer], linear_w: F32, linear_b: F32) -> None:
        self._layers = layers
        self._linear_w = linear_w
        self._linear_b = linear_b
        self.filters = mel_filterbank()
        """The mel filterbank (N_MELS, N_FFT//2+1)."""

    @classmethod
    def load(cls, path: Path | None = None, sha256: str | None = WEIGHTS_SHA256) -> VoiceEncoder:
        """Read and check the weights (EncoderNotInstalled, WeightsInvalid)."""
        path = path or default_weights_path()
        if sha256 is not None:
            check_sha256(path.read_bytes(), sha256, str(path))
        state = read_legacy_checkpoint(path).get("model_state")
        if not isinstance(state, dict):
            raise WeightsInvalid(f"{path} has no model_state")
        try:
            layers = [
                _Layer(
                    np.ascontiguousarray(state[f"lstm.weight_ih_l{i}"].T, np.float32),
                    np.ascontiguousarray(state[f"lstm.weight_hh_l{i}"].T, np.float32),
                    (state[f"lstm.bias_ih_l{i}"] + state[f"lstm.bias_hh_l{i}"]).astype(np.float32),
                )
                for i in range(3)
            ]
            linear_w = np.ascontiguousarray(state["linear.weight"].T, np.float32)
            linear_b = np.asarray(state["linear.bias"], np.float32)
        except KeyError as exc:
            raise WeightsInvalid(f"{path} lacks {exc}") from exc
        return cls(layers, linear_w, linear_b)

    @property
    def partial_samples(self) -> int:
        """Samples in one partial (1.6 s)."""
        return PARTIAL_FRAMES * HOP

    def embed(self, clips: F32) -> F32:
        """Embeddings (n, EMBEDDING_SIZE) of (n, partial_samples) clips, each first raised
        to the training level."""
        if clips.shape[0] == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        mels = np.stack(
            [mel_frames(normalize_volume(clip), self.filters)[:PARTIAL_FRAMES] for clip in clips]
        )
        return self.embed_mels(mels)

    def embed_mels(self, mels: F32) -> F32:
        """Embeddings (B, EMBEDDING_SIZE) of mel partials (B, T, N_MELS)."""
        out = [self._forward(mels[i : i + _BATCH]) for i in range(0, mels.shape[0], _BATCH)]
        if not out:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        return np.concatenate(out)

    def _forward(self, mels: F32) -> F32:
        batch, steps, _ = mels.shape
        x = np.ascontiguousarray(mels.transpose(1, 0, 2))  # (T, B, D)
        h = np.zeros((batch, 0), np.float32)
        for layer in self._layers:
            hidden = layer.w_hh.shape[0]
            pre = (x.reshape(steps * batch, -1) @ layer.w_ih + layer.bias).reshape(
                steps, batch, 4 * hidden
            )
            h = np.zeros((batch, hidden), np.float32)
            c = np.zeros((batch, hidden), np.float32)
            outputs = np.empty((steps, batch, hidden), np.float32)
            gates = np.empty((batch, 4 * hidden), np.float32)
            for t in range(steps):
                np.matmul(h, layer.w_hh, out=gates)
                gates += pre[t]
                # sigmoid(x) = (1 + tanh(x/2)) / 2 on the i, f, o gates; tanh on g
                gates[:, 2 * hidden : 3 * hidden] *= 2.0
                np.tanh(gates * 0.5, out=gates)
                ifo = gates + 1.0
                ifo *= 0.5
                c *= ifo[:, hidden : 2 * hidden]
                c += ifo[:, :hidden] * gates[:, 2 * hidden : 3 * hidden]
                np.multiply(ifo[:, 3 * hidden :], np.tanh(c), out=h)
                outputs[t] = h
            x = outputs
        raw = np.maximum(h @ self._linear_w + self._linear_b, 0.0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return np.asarray(raw / np.maximum(norms, 1e-8), np.float32)

    def embed_utterance(self, audio: Float32Pcm) -> F32:
        """One embedding of a whole clip: the normalised mean of its partials (half-overlapping)."""
        mels = mel_frames(normalize_volume(audio), self.filters)
        if mels.shape[0] < PARTIAL_FRAMES:
            mels = np.pad(mels, ((0, PARTIAL_FRAMES - mels.shape[0]), (0, 0)))
        starts = range(0, mels.shape[0] - PARTIAL_FRAMES + 1, PARTIAL_FRAMES // 2)
        partials = np.stack([mels[s : s + PARTIAL_FRAMES] for s in starts])
        mean = self.embed_mels(partials).mean(axis=0)
        return np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-8), np.float32)


TARGET_DBFS = -30.0
"""Quiet audio is raised to this level before embedding (as the encoder was trained)."""


def normalize_volume(audio: Float32Pcm, target_dbfs: float = TARGET_DBFS) -> Float32Pcm:
    """Raise (never lower) the RMS level of `audio` to `target_dbfs`."""
    power = float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0
    if power <= 1e-12:
        return audio
    gain_db = target_dbfs - 10 * np.log10(power)
    if gain_db <= 0:
        return audio
    return (audio * np.float32(10 ** (gain_db / 20))).astype(np.float32)
