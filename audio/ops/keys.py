"""API keys and the projects (tenants) they belong to; reloadable.

Every key belongs to one project, and a project owns the files and batches its keys
create: no other project can see them. The plain list of keys (`SPEECH_API_KEYS`) makes
each key a project of its own; the keys file names the projects, so several keys (a
team's rotated keys, its staging and production keys) can share one. Without any keys
every caller is the one anonymous project.

The keys file is in the *project keyring* format: one `PROJECT SHA256` pair per line
(the project's name, then the lowercase hex sha256 of one of its keys), `#` comments and
blank lines skipped. A line with the digest alone is a project of its own, as a plain
key is. Project names are 1-64 letters, digits, `.`, `_` or `-`.

Every presented key is hashed and compared with every accepted digest in constant time
(`hmac.compare_digest`, no early exit), so neither a key's content nor its position
leaks through timing. Keys and their digests are never logged: a project's name is what
logs, metrics and the rate limiter see. Created in the app's lifespan; `reload()` runs
on SIGHUP.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ANONYMOUS_PROJECT = "anonymous"
"""The one project of a server with no keys (and the owner of a store's rows from before
projects existed, unless the operator names another)."""
LABEL_CONTEXT = b"speech-pipeline/project-of-a-key"
"""Domain separation for the name of a key's own project (not the key's sha256)."""


class KeyFileError(ValueError):
    """The keys file is unreadable or holds a line that is not in the keyring format."""


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def own_project(key_digest: bytes) -> str:
    """The project of a key that has one of its own: `key-` and 16 hex digits of a keyed
    hash of its digest. Stable across restarts, replicas and the order of the keys, and
    neither the key nor its sha256."""
    return "key-" + hmac.new(LABEL_CONTEXT, key_digest, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class KeyEntry:
    """One accepted key."""

    digest: bytes
    """sha256 of the key."""
    project: str
    """The project it belongs to."""


def read_key_file(path: Path) -> list[KeyEntry]:
    """The keyring: `PROJECT SHA256` or `SHA256` per line (see the module's docstring)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {path}: {exc}") from exc
    entries = []
    for number, raw in enumerate(lines, start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{path}:{number}"
        if len(words) > 2:
            raise KeyFileError(f"{where}: expected `PROJECT SHA256` or `SHA256`")
        hexdigest = words[-1].lower()
        if not SHA256_HEX.match(hexdigest):
            raise KeyFileError(f"{where}: the last word is not a sha256 hex digest (64 hex digits)")
        key_digest = bytes.fromhex(hexdigest)
        project = words[0] if len(words) == 2 else own_project(key_digest)
        if not PROJECT_NAME.match(project):
            raise KeyFileError(f"{where}: a project name is 1-64 letters, digits, `.`, `_` or `-`")
        entries.append(KeyEntry(key_digest, project))
    return entries


def plain_entries(keys: Iterable[str]) -> list[KeyEntry]:
    """`SPEECH_API_KEYS`: each key a project of its own."""
    return [KeyEntry(d, own_project(d)) for d in map(digest, keys)]


class ApiKeys:
    """The accepted keys of one process and their projects."""

    def __init__(self, keys: list[str], key_file: Path | None = None) -> None:
        self._plain = plain_entries(keys)
        self._file = key_file
        self._lock = threading.Lock()
        self._from_file = read_key_file(key_file) if key_file is not None else []

    @property
    def required(self) -> bool:
        """Whether a key is needed at all (no keys configured: any request is accepted,
        as the anonymous project)."""
        return bool(self._plain) or self._file is not None

    def project_of(self, presented: str | None) -> str | None:
        """The project a presented key belongs to; None when it is refused. Without keys
        configured, every caller is the anonymous project."""
        if not self.required:
            return ANONYMOUS_PROJECT
        if presented is None:
            return None
        presented_digest = digest(presented)
        with self._lock:
            accepted = [*self._plain, *self._from_file]
        found: str | None = None
        for entry in accepted:  # no early exit
            if hmac.compare_digest(presented_digest, entry.digest) and found is None:
                found = entry.project
        return found

    def project_of_digest(self, hexdigest: str) -> str | None:
        """The project of the key with this sha256 (hex), if it is accepted (settings
        that name a key by its digest, such as per-key budgets)."""
        with self._lock:
            accepted = [*self._plain, *self._from_file]
        return next((e.project for e in accepted if e.digest.hex() == hexdigest.lower()), None)

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
        projects = len({entry.project for entry in fresh})
        log.info("reloaded %d key(s) in %d project(s) from %s", len(fresh), projects, self._file)
