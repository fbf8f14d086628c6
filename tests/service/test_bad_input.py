"""Every bad input gets a clear 4xx in the contract's envelope; the server survives."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ..bad_inputs import CASES, HELLO, TRANSCRIBE, Case, send


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=120) as c:
        yield c


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(client: httpx.Client, case: Case) -> None:
    response = send(client, case)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"].startswith("req_")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == case.param
    if case.code is not None:
        assert error["code"] == case.code
    assert case.message_has in error["message"]


def test_chunked_oversized_upload_is_413(client: httpx.Client) -> None:
    """No content-length: the limit is enforced while the body streams in."""

    def body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for _ in range(30):
            yield b"\0" * 1_000_000

    response = client.post(
        TRANSCRIBE, content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_truncated_mp3_half_transcribes_what_is_there(client: httpx.Client) -> None:
    """FFmpeg decodes the frames present; the transcript is of that part (not an error)."""
    from ..bad_inputs import MP3

    response = client.post(
        TRANSCRIBE,
        data={"model": "whisper-1"},
        files={"file": ("a.mp3", MP3[: len(MP3) // 2], "audio/mpeg")},
    )
    assert response.status_code == 200
    assert "weather" in response.json()["text"].lower()


def test_unknown_route_is_json_404(client: httpx.Client) -> None:
    response = client.get("/openai/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_server_still_serves_after_bad_inputs(client: httpx.Client) -> None:
    for case in CASES[:4]:
        send(client, case)
    response = client.post(
        TRANSCRIBE, data={"model": "whisper-1"}, files={"file": ("x", HELLO, "audio/wav")}
    )
    assert response.status_code == 200
    assert "hello" in response.json()["text"].lower()
