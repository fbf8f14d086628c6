"""A local HTTP server that imitates the Hugging Face Hub's download API.

Enough of it for `huggingface_hub.snapshot_download` (repo info, tree listing,
HEAD + GET on resolve URLs) so the real pull path runs against loopback only.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Handler(BaseHTTPRequestHandler):
    repos: ClassVar[dict[str, dict[str, Path]]] = {}
    log: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _missing(self) -> None:
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _entries(self, repo: str) -> list[dict[str, object]]:
        return [
            {"type": "file", "path": name, "size": p.stat().st_size, "oid": _oid(p)}
            for name, p in sorted(self.repos[repo].items())
        ]

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        self.log.append(f"{self.command} {path}")
        info = re.fullmatch(r"/api/models/(.+?)(?:/revision/[^/]+)?", path)
        tree = re.fullmatch(r"/api/models/(.+?)/tree/[^/]+(?:/.*)?", path)
        resolve = re.fullmatch(r"/(.+?)/resolve/[^/]+/(.+)", path)
        if tree and tree.group(1) in self.repos:
            self._json(self._entries(tree.group(1)))
        elif info and info.group(1) in self.repos:
            siblings = [{"rfilename": n} for n in sorted(self.repos[info.group(1)])]
            self._json({"id": info.group(1), "sha": COMMIT, "siblings": siblings})
        elif resolve and resolve.group(1) in self.repos:
            self._file(self.repos[resolve.group(1)].get(resolve.group(2)))
        else:
            self._missing()

    def _file(self, file: Path | None) -> None:
        if file is None:
            self._missing()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(file.stat().st_size))
        self.send_header("ETag", f'"{_oid(file)}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if self.command == "HEAD":
            return
        with file.open("rb") as src:
            while chunk := src.read(1 << 20):
                self.wfile.write(chunk)


_OIDS: dict[Path, str] = {}


def _oid(path: Path) -> str:
    if path not in _OIDS:
        _OIDS[path] = hashlib.sha1(path.read_bytes()).hexdigest()
    return _OIDS[path]


@contextmanager
def fake_hub(repos: dict[str, dict[str, Path]]) -> Iterator[tuple[str, list[str]]]:
    """Serve `repos` ({repo_id: {filename: local path}}); yield (endpoint, request log)."""
    handler = type("Handler", (_Handler,), {"repos": repos, "log": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.log
    finally:
        server.shutdown()
        server.server_close()
