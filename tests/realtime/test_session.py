"""The realtime session on its own: real VAD and speech, a scripted transcriber."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from realtime.codec import to_samples
from realtime.errors import ServerBusy, SessionError
from realtime.session import RealtimeSession
from realtime.types import SessionConfig, SessionLimits, TurnText
from segmenter.vad import SileroVad

from ..helpers import SAMPLES, pcm16

HELLO = "Hello, this is a short test of the speech service."


class Scripted:
    """A transcriber whose text grows with the audio: 3 words a second, the full
    sentence for a committed turn."""

    def __init__(self, gate: asyncio.Event | None = None, fail: SessionError | None = None):
        self.calls: list[tuple[float, bool]] = []
        self.gate = gate
        self.fail = fail

    def validate(self, config: SessionConfig) -> None:
        if config.model == "nope":
            raise SessionError("model `nope` does not exist", "model_not_found", "model")

    def busy(self) -> bool:
        return False

    async def transcribe(self, audio: Any, config: SessionConfig, final: bool) -> TurnText:
        seconds = audio.shape[0] / 16000
        self.calls.append((seconds, final))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        words = HELLO.split()
        return TurnText(" ".join(words if final else words[: int(seconds * 3)]), "en")


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


@pytest.fixture(scope="module")
def hello_24k() -> bytes:
    return pcm16(SAMPLES / "hello_en.wav", 24000)


def silence(seconds: float, rate: int = 24000) -> bytes:
    return bytes(int(seconds * rate) * 2)


class Client:
    """Drives a session as a client would, at real time or faster."""

    def __init__(self, session_of: Callable[[Callable[[dict[str, Any]], None]], RealtimeSession]):
        self.events: list[dict[str, Any]] = []
        self.session = session_of(self.events.append)
        self.session.start()

    async def send(self, event: dict[str, Any] | str | bytes) -> None:
        frame = event if isinstance(event, str | bytes) else json.dumps(event)
        await self.session.receive(frame)

    async def audio(self, pcm: bytes, frame_bytes: int = 1920, pace: float = 0.0) -> None:
        for i in range(0, len(pcm), frame_bytes):
            chunk = base64.b64encode(pcm[i : i + frame_bytes]).decode()
            await self.send({"type": "input_audio_buffer.append", "audio": chunk})
            if pace:
                await asyncio.sleep(pace)

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def settle(self) -> None:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if not self.session.pending_turns:
                return


def make(
    vad: SileroVad, transcriber: Scripted | None = None, limits: SessionLimits | None = None,
    manual: bool = False,
) -> Client:  # fmt: skip
    config = SessionConfig(model="whisper-base")
    if manual:
        config = SessionConfig(model="whisper-base", turn_detection=None)

    def build(send: Callable[[dict[str, Any]], None]) -> RealtimeSession:
        return RealtimeSession(
            transcriber or Scripted(), vad.stream(), config,
            limits or SessionLimits(max_ahead_seconds=1e9, delta_interval_seconds=0.05), send,
        )  # fmt: skip

    return Client(build)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_server_vad_finds_each_turn_and_chains_items(vad: SileroVad, hello_24k: bytes) -> None:
    async def go() -> Client:
        client = make(vad)
        await client.audio(silence(0.5) + hello_24k + silence(1.0) + hello_24k + silence(1.0))
        await client.settle()
        await client.session.close()
        return client

    client = run(go())
    started = client.of("input_audio_buffer.speech_started")
    stopped = client.of("input_audio_buffer.speech_stopped")
    committed = client.of("input_audio_buffer.committed")
    completed = client.of("conversation.item.input_audio_transcription.completed")
    assert len(started) == len(stopped) == len(committed) == len(completed) == 2
    assert 200 <= started[0]["audio_start_ms"] <= 500  # speech at 0.5 s, minus 300 ms padding
    assert started[0]["audio_start_ms"] < stopped[0]["audio_end_ms"] < started[1]["audio_start_ms"]
    assert committed[0]["previous_item_id"] is None
    assert committed[1]["previous_item_id"] == committed[0]["item_id"]
    assert [c["item_id"] for c in completed] == [c["item_id"] for c in committed]
    assert completed[0]["transcript"] == HELLO and completed[0]["usage"]["type"] == "duration"
    assert all(e["event_id"].startswith("event_") for e in client.events)


def test_deltas_are_never_taken_back_and_add_up_to_the_transcript(
    vad: SileroVad, hello_24k: bytes
) -> None:
    async def go() -> Client:
        client = make(vad)
        await client.audio(hello_24k + silence(1.0), pace=0.02)  # 40-ms frames at 2x speed
        await client.settle()
        await client.session.close()
        return client

    client = run(go())
    deltas = client.of("conversation.item.input_audio_transcription.delta")
    assert len(deltas) >= 2
    assert "".join(d["delta"] for d in deltas) == HELLO
    kinds = client.kinds()
    assert kinds.index("conversation.item.input_audio_transcription.delta") < kinds.index(
        "input_audio_buffer.speech_stopped"
    )  # text while the person still speaks


def test_client_commits_without_server_vad(vad: SileroVad, hello_24k: bytes) -> None:
    async def go() -> Client:
        client = make(vad, manual=True)
        await client.send({"type": "input_audio_buffer.commit", "event_id": "c1"})  # empty
        await client.audio(silence(2.0) + hello_24k + silence(2.0))
        await client.send({"type": "input_audio_buffer.commit"})
        await client.settle()
        await client.session.close()
        return client

    client = run(go())
    kinds = client.kinds()
    assert "input_audio_buffer.speech_started" not in kinds
    error = client.of("error")[0]["error"]
    assert error["code"] == "input_audio_buffer_commit_empty" and error["event_id"] == "c1"
    (done,) = client.of("conversation.item.input_audio_transcription.completed")
    assert done["transcript"] == HELLO
    # the silence before the speech was not kept: the turn is the speech plus padding
    assert done["usage"]["seconds"] < len(hello_24k) / 48000 + 2.5


def test_clear_drops_the_buffer(vad: SileroVad, hello_24k: bytes) -> None:
    async def go() -> Client:
        client = make(vad, manual=True)
        await client.audio(hello_24k)
        await client.send({"type": "input_audio_buffer.clear"})
        await client.send({"type": "input_audio_buffer.commit"})
        await client.session.close()
        return client

    client = run(go())
    assert "input_audio_buffer.cleared" in client.kinds()
    assert client.of("error")[0]["error"]["code"] == "input_audio_buffer_commit_empty"


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ("not json", "invalid_json", None),
        ("[1, 2]", "invalid_event", None),
        ({"type": "input_audio_buffer.nope"}, "unknown_event", "type"),
        ({"type": "response.create"}, "unsupported_event", "type"),
        ({"type": "input_audio_buffer.append", "audio": "***"}, "invalid_value", "audio"),
        ({"type": "input_audio_buffer.append", "audio": "AAEC"}, "invalid_value", "audio"),
        ({"type": "session.update", "session": {"type": "realtime"}}, "invalid_value",
         "session.type"),
        ({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000}}}}}, "invalid_value",
         "session.audio.input.format.rate"),
        ({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "threshold": 3}}}}}, "invalid_value",
         "session.audio.input.turn_detection.threshold"),
        ({"type": "transcription_session.update", "session": {"input_audio_format": "mp3"}},
         "invalid_value", "session.input_audio_format"),
        ({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "transcription": {"model": "nope"}}}}}, "model_not_found", "model"),
    ],
)  # fmt: skip
def test_bad_events_are_errors_and_the_session_goes_on(
    vad: SileroVad, hello_24k: bytes, event: Any, code: str, param: str | None
) -> None:
    async def go() -> Client:
        client = make(vad)
        await client.send(event)
        await client.audio(hello_24k + silence(1.0))
        await client.settle()
        await client.session.close()
        return client

    client = run(go())
    (error,) = client.of("error")
    assert error["error"]["code"] == code and error["error"]["param"] == param
    assert error["error"]["type"] == "invalid_request_error" and error["error"]["message"]
    assert client.of("conversation.item.input_audio_transcription.completed")  # still serving


def test_updates_merge_and_answer_in_the_shape_used(vad: SileroVad) -> None:
    async def go() -> Client:
        client = make(vad)
        await client.send({"type": "transcription_session.update", "session": {
            "input_audio_format": "g711_alaw", "input_audio_transcription": {"language": "de"},
            "something_new": True}})  # fmt: skip
        await client.send({"type": "session.update", "session": {"type": "transcription",
            "audio": {"input": {"turn_detection": {"silence_duration_ms": 800}}}}})  # fmt: skip
        await client.session.close()
        return client

    client = run(go())
    assert client.kinds() == ["session.created", "transcription_session.updated", "session.updated"]
    beta = client.events[1]["session"]
    assert beta["input_audio_format"] == "g711_alaw"
    assert beta["input_audio_transcription"]["language"] == "de"
    current = client.events[2]["session"]["audio"]["input"]
    assert current["format"] == {"type": "audio/pcma"}
    assert current["transcription"]["language"] == "de"  # kept from the first update
    assert current["turn_detection"]["silence_duration_ms"] == 800
    assert current["turn_detection"]["prefix_padding_ms"] == 300


def test_audio_faster_than_real_time_is_refused(vad: SileroVad) -> None:
    async def go() -> Client:
        client = make(vad, limits=SessionLimits(max_ahead_seconds=2.0))
        await client.audio(silence(1.5), frame_bytes=len(silence(1.5)))
        await client.audio(silence(1.5), frame_bytes=len(silence(1.5)))
        await client.session.close()
        return client

    client = run(go())
    (error,) = client.of("error")
    assert error["error"]["code"] == "audio_too_fast"


def test_a_long_uncommitted_buffer_is_bounded(vad: SileroVad, hello_24k: bytes) -> None:
    async def go() -> Client:
        limits = SessionLimits(max_ahead_seconds=1e9, max_buffer_seconds=2.0)
        client = make(vad, manual=True, limits=limits)
        await client.audio(hello_24k * 3)
        await client.send({"type": "input_audio_buffer.commit"})
        await client.settle()
        await client.session.close()
        return client

    client = run(go())
    (error,) = client.of("error")  # told once
    assert error["error"]["code"] == "input_audio_buffer_overflow"
    (done,) = client.of("conversation.item.input_audio_transcription.completed")
    assert done["usage"]["seconds"] <= 2.0


def test_turns_beyond_the_pending_bound_fail_busy(vad: SileroVad, hello_24k: bytes) -> None:
    async def go() -> Client:
        gate = asyncio.Event()
        limits = SessionLimits(max_ahead_seconds=1e9, max_pending_turns=1)
        client = make(vad, Scripted(gate), limits, manual=True)
        for _ in range(2):
            await client.audio(hello_24k)
            await client.send({"type": "input_audio_buffer.commit"})
        gate.set()
        await client.settle()
        await client.session.close()
        return client

    client = run(go())
    (failed,) = client.of("conversation.item.input_audio_transcription.failed")
    assert failed["error"]["code"] == "server_busy" and failed["error"]["type"] == "server_error"
    assert len(client.of("conversation.item.input_audio_transcription.completed")) == 1


def test_a_failed_turn_is_reported_and_the_next_is_served(vad: SileroVad, hello_24k: bytes) -> None:
    async def go() -> Client:
        transcriber = Scripted(fail=ServerBusy("the server is at capacity", "overloaded"))
        client = make(vad, transcriber, manual=True)
        await client.audio(hello_24k)
        await client.send({"type": "input_audio_buffer.commit"})
        await client.settle()
        transcriber.fail = None
        await client.audio(hello_24k)
        await client.send({"type": "input_audio_buffer.commit"})
        await client.settle()
        await client.session.close()
        return client

    client = run(go())
    prefix = "conversation.item.input_audio_transcription."
    kinds = [k for k in client.kinds() if k.startswith(prefix) and not k.endswith("delta")]
    assert kinds == [
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.input_audio_transcription.completed",
    ]


@pytest.mark.parametrize(("fmt", "codec"), [("g711_ulaw", "pcm_mulaw"), ("g711_alaw", "pcm_alaw")])
def test_g711_decodes_as_ffmpeg_does(fmt: str, codec: str) -> None:
    import av

    context = av.CodecContext.create(codec, "r")
    context.sample_rate, context.layout = 8000, "mono"
    frames = context.decode(av.Packet(bytes(range(256))))
    expected = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]) / 32768
    np.testing.assert_array_equal(to_samples(bytes(range(256)), fmt), expected.astype(np.float32))  # type: ignore[arg-type]
