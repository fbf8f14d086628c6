"""The realtime WebSocket against hostile and careless clients, on a live server.

Every case gets an `error` event or a close with a code, and a well-behaved session
running beside it still gets its transcript.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from audio.settings import RealtimeSettings

from ..helpers import REFERENCES, SAMPLES, live_server, pcm16, wait_until, wer

KEY = "rt-key"


@pytest.fixture(scope="module")
def served(make_settings) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    realtime = RealtimeSettings(max_sessions=4, idle_timeout_seconds=3, outbox_events=32)
    with live_server(make_settings(api_keys=[KEY], realtime=realtime)) as (base, app):
        yield base.replace("http://", "ws://") + "/v1/realtime?intent=transcription", app


@pytest.fixture(scope="module")
def url(served: tuple[str, Any]) -> str:
    return served[0]


@pytest.fixture(scope="module")
def app(served: tuple[str, Any]) -> Any:
    return served[1]


@pytest.fixture(scope="module")
def hello() -> bytes:
    return pcm16(SAMPLES / "hello_en.wav", 24000, tail_seconds=1.0)


def connect(url: str, key: str | None = KEY, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return websockets.connect(url, additional_headers=headers, **kwargs)


async def next_event(ws: Any, kind: str, timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event


async def good_session(url: str, pcm: bytes) -> str:
    """A client that does everything right: its transcript."""
    async with connect(url) as ws:
        await next_event(ws, "session.created")
        transcription = {"model": "whisper-1", "language": "en"}
        update = {"type": "transcription", "audio": {"input": {"transcription": transcription}}}
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        for i in range(0, len(pcm), 4800):
            audio = base64.b64encode(pcm[i : i + 4800]).decode()
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            await asyncio.sleep(0.05)
        done = await next_event(ws, "conversation.item.input_audio_transcription.completed")
        return str(done["transcript"])


def test_the_keys_guard_the_socket_in_every_form_browsers_and_sdks_use(url: str) -> None:
    async def go() -> tuple[int, bytes, list[str]]:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, key=None):
                pass
        kinds = []
        for attempt in (
            connect(url),
            websockets.connect(f"{url}&api_key={KEY}"),
            websockets.connect(url, subprotocols=["realtime", f"openai-insecure-api-key.{KEY}"]),  # type: ignore[list-item]
        ):
            async with attempt as ws:
                kinds.append(json.loads(await ws.recv())["type"])
        return refused.value.response.status_code, refused.value.response.body, kinds

    status, body, kinds = asyncio.run(go())
    assert status == 401
    assert json.loads(body)["error"]["code"] == "invalid_api_key"
    assert kinds == ["session.created"] * 3


def test_wrong_intent_is_refused_with_the_envelope(url: str) -> None:
    async def go() -> Any:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url.replace("intent=transcription", "intent=conversation")):
                pass
        return refused.value.response

    response = asyncio.run(go())
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["param"] == "intent"


def test_bad_frames_get_errors_while_another_session_is_served(url: str, hello: bytes) -> None:
    bad_frames: list[str | bytes] = [
        "{not json", b"\x00\x01binary", json.dumps({"type": "what.is.this"}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "!!!"}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "AAEC"}),  # 3 bytes of pcm16
        json.dumps({"type": "input_audio_buffer.commit"}),  # empty buffer
        json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (10 * 1024 * 1024)}),
    ]  # fmt: skip

    async def hostile() -> list[str]:
        codes = []
        async with connect(url, max_size=None) as ws:
            await next_event(ws, "session.created")
            for frame in bad_frames:
                await ws.send(frame)
                codes.append((await next_event(ws, "error"))["error"]["code"])
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": ""}))
            await ws.ping()
        return codes

    async def go() -> tuple[list[str], str]:
        return await asyncio.gather(hostile(), good_session(url, hello))  # type: ignore[return-value]

    codes, transcript = asyncio.run(go())
    assert codes == [
        "invalid_json", "invalid_json", "unknown_event", "invalid_value", "invalid_value",
        "input_audio_buffer_commit_empty", "frame_too_large",
    ]  # fmt: skip
    assert wer(REFERENCES["hello_en.wav"]["text"], transcript) <= 0.2


def test_audio_before_configuration_takes_the_default_format(url: str, hello: bytes) -> None:
    """OpenAI's sessions start configured (pcm16 at 24 kHz, server VAD), and Pipecat appends
    before its update arrives: such audio is transcribed, not refused."""

    async def go() -> str:
        async with connect(url) as ws:
            await next_event(ws, "session.created")
            for i in range(0, len(hello), 4800):
                audio = base64.b64encode(hello[i : i + 4800]).decode()
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            done = await next_event(ws, "conversation.item.input_audio_transcription.completed")
            return str(done["transcript"])

    assert wer(REFERENCES["hello_en.wav"]["text"], asyncio.run(go())) <= 0.2


def _never_reading_client(url: str, frames: int) -> socket.socket:
    """A WebSocket client on a plain socket with a tiny receive buffer that sends
    `frames` bad frames (each answered with an error event) and never reads them."""
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    uri = parse_uri(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((uri.host, uri.port))
    protocol = ClientProtocol(uri)
    request = protocol.connect()
    request.headers["Authorization"] = f"Bearer {KEY}"
    protocol.send_request(request)
    sock.sendall(b"".join(protocol.data_to_send()))
    protocol.receive_data(sock.recv(65536))
    assert protocol.handshake_exc is None
    sock.settimeout(5)
    try:
        for _ in range(frames):
            protocol.send_text(b"x")
            sock.sendall(b"".join(protocol.data_to_send()))
    except TimeoutError:
        pass  # the server stopped reading: it has given up on this client
    return sock


def test_a_client_that_never_reads_is_dropped(url: str, hello: bytes, app: Any) -> None:
    hub = app.state.realtime
    opened = hub.opened
    sock = _never_reading_client(url, 200_000)
    try:
        wait_until(lambda: hub.opened > opened and not hub.sessions, timeout=60)
        transcript = asyncio.run(good_session(url, hello))  # others are still served
    finally:
        sock.close()
    assert wer(REFERENCES["hello_en.wav"]["text"], transcript) <= 0.2


def test_an_idle_session_is_told_and_closed(url: str) -> None:
    async def go() -> tuple[str, int | None]:
        async with connect(url) as ws:
            await next_event(ws, "session.created")
            error = await next_event(ws, "error", timeout=10)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            return error["error"]["code"], closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(go()) == ("idle_timeout", 1000)


def test_a_turn_slower_than_the_idle_timeout_is_still_answered(
    served: tuple[str, Any], hello: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client has sent its audio and waits for the text: a server slower than the idle
    timeout (3 s here; a busy CPU) must not close the session as idle."""
    url, app = served
    stt = app.state.stt
    decode = stt.transcribe_turn

    async def slow(*args: Any, **kwargs: Any) -> Any:
        if args[-1].beam_size > 1:  # a final decode (interim ones are greedy)
            await asyncio.sleep(5)
        return await decode(*args, **kwargs)

    monkeypatch.setattr(stt, "transcribe_turn", slow)
    transcript = asyncio.run(good_session(url, hello))
    assert wer(REFERENCES["hello_en.wav"]["text"], transcript) <= 0.2


def test_sessions_beyond_the_limit_are_refused_with_retry_after(url: str) -> None:
    async def go() -> Any:
        held = [await connect(url).__aenter__() for _ in range(4)]
        try:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url):
                    pass
            return refused.value.response
        finally:
            for ws in held:
                await ws.close()

    response = asyncio.run(go())
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert json.loads(response.body)["error"]["code"] == "overloaded"
