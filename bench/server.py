"""Run the real app under uvicorn on loopback (benchmarks and tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from audio.app import create_app
from audio.settings import Settings
from transcriber.registry import Loader
from transcriber.whisper import WhisperModel


def _loopback_socket() -> socket.socket:
    """A TCP socket bound to a loopback port the system chose."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    """A loopback port nobody is listening on now."""
    with _loopback_socket() as probe:
        return int(probe.getsockname()[1])


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """Yield the base URL of the service running in a background thread."""
    with serving_app(settings) as (url, _app):
        yield url


@contextmanager
def serving_app(
    settings: Settings, loader: Loader = WhisperModel.load
) -> Iterator[tuple[str, FastAPI]]:
    """Run the real app under uvicorn on loopback in a thread; yield (url, app)."""
    app = create_app(settings, loader=loader)
    # The socket is bound here and handed to uvicorn, so no other process (a parallel test
    # worker's server) can take the port between choosing it and listening on it.
    listener = _loopback_socket()
    port = int(listener.getsockname()[1])
    # Keep idle connections well past uvicorn's 5 s: a pooled client that reuses one just
    # as the server closes it sees "Server disconnected" (a race, not a service failure).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=120
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("bench server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on loopback (no persistence); its URL. Needs the
    `redis-server` program (Debian's package)."""
    import shutil
    import subprocess

    import redis

    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no"], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis(host="127.0.0.1", port=port).ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
