"""The Wyoming listener: one TCP server in the app's event loop, sharing its services,
bounded in connections, closed with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from wyoming.error import Error
from wyoming.event import async_write_event

from audio.ops.ratelimit import RateLimiter
from audio.services.stt import SttService
from audio.services.tts import TtsService
from audio.settings import Settings
from audio.wyoming.address import parse_uri
from audio.wyoming.handler import WyomingConnection
from audio.wyoming.protocol import MAX_HEADER_BYTES

log = logging.getLogger(__name__)


class WyomingServer:
    """Accepts Wyoming clients while the app runs."""

    def __init__(
        self, settings: Settings, stt: SttService, tts: TtsService, limiter: RateLimiter,
        draining: threading.Event,
    ) -> None:  # fmt: skip
        self.settings, self.stt, self.tts = settings, stt, tts
        self.limiter, self.draining = limiter, draining
        self._server: asyncio.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] | None = None

    async def start(self, uri: str) -> None:
        host, port = parse_uri(uri)
        self._server = await asyncio.start_server(
            self._connected, host=host, port=port, limit=MAX_HEADER_BYTES
        )
        self.address = self._server.sockets[0].getsockname()[:2]
        log.info("wyoming: listening on tcp://%s:%d", *self.address)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.connections) >= self.settings.wyoming.max_connections or self.draining.is_set():
            why = "shutting_down" if self.draining.is_set() else "too_many_connections"
            with contextlib.suppress(ConnectionError):
                await async_write_event(Error(text=f"refused: {why}; retry", code=why).event(),
                                        writer)  # fmt: skip
            writer.close()
            return
        connection = WyomingConnection(reader, writer, self.settings, self.stt, self.tts,
                                       self.limiter, self.draining)  # fmt: skip
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            await connection.run()
        finally:
            self.connections.discard(task)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self.connections):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)
