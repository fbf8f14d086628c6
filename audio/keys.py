"""API keys: plain keys from settings and sha256 digests from a file, reloadable.

Every presented key is hashed and compared with every accepted digest in
constant time (`hmac.compare_digest`, no early exit), so neither a key's
content nor its position leaks through timing. Created in the app's lifespan;
`reload()` runs on SIGHUP.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from pathlib import Path

log = logging.getLogger(__name__)

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class KeyFileError(ValueError):
    """The keys file is unreadable or holds a line that is not a sha256 digest."""


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def read_key_file(path: Path) -> list[bytes]:
    """One lowercase hex sha256 of a key per line; blank lines and `#` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {path}: {exc}") from exc
    digests = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip().lower()
        if not line:
            continue
        if not SHA256_HEX.match(line):
            raise KeyFileError(f"{path}:{number} is not a sha256 hex digest (64 hex digits)")
        digests.append(bytes.fromhex(line))
    return digests


class ApiKeys:
    """The accepted keys of one process."""

    def __init__(self, keys: list[str], key_file: Path | None = None) -> None:
        self._plain = [digest(k) for k in keys]
        self._file = key_file
        self._lock = threading.Lock()
        self._from_file = read_key_file(key_file) if key_file is not None else []

    @property
    def required(self) -> bool:
        """Whether a key is needed at all (no keys configured: any request is accepted)."""
        return bool(self._plain) or self._file is not None

    def accepts(self, presented: str) -> bool:
        presented_digest = digest(presented)
        with self._lock:
            accepted = [*self._plain, *self._from_file]
        matched = False
        for candidate in accepted:  # no early exit
            matched |= hmac.compare_digest(presented_digest, candidate)
        return matched

    def reload(self) -> None:
        """Re-read the keys file (SIGHUP); a bad file keeps the keys already loaded."""
        if self._file is None:
            return
        try:
            fresh = read_key_file(self._file)
        except KeyFileError as exc:
            log.error("keys file not reloaded, the previous keys stay: %s", exc)
            return
        with self._lock:
            self._from_file = fresh
        log.info("reloaded %d key digest(s) from %s", len(fresh), self._file)
