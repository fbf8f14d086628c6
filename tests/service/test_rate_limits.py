"""Rate limits with Groq's headers, as the SDKs see them; one limit across two
replicas sharing a real redis-server."""

from __future__ import annotations

import hashlib
import re
from contextlib import ExitStack

import groq
import httpx
import openai
import pytest

from bench.stt import server_process

from ..helpers import SAMPLES, live_server

CLIP = (SAMPLES / "hello_en.wav").read_bytes()  # 3.48 s: 4 s of an audio budget
DURATION = re.compile(r"^(\d+m)?\d+\.\d\ds$")


def _metric_429(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("speech_requests_total") and 'status="429"' in line
    )


def test_headers_on_every_response_and_429_in_the_envelope(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(rate_limits={"requests": "3/minute"})
    with live_server(settings) as (url, _app):
        seen = [httpx.get(f"{url}/v1/models") for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in seen] == ["2", "1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit-requests"] == "3" for r in seen)
    assert all(DURATION.match(r.headers["x-ratelimit-reset-requests"]) for r in seen)
    refused = seen[-1]
    assert refused.json() == {"error": {
        "message": refused.json()["error"]["message"], "type": "rate_limit_exceeded",
        "param": None, "code": "rate_limit_exceeded"}}  # fmt: skip
    assert 1 <= int(refused.headers["retry-after"]) <= 60


@pytest.mark.parametrize("sdk", ["openai", "groq"])
def test_sdks_read_the_headers_and_retry_through_a_429(make_settings, sdk: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(warmup=True, rate_limits={"requests": "2 per 5 seconds"})
    with live_server(settings) as (url, _app):
        if sdk == "openai":
            client: openai.OpenAI | groq.Groq = openai.OpenAI(
                api_key="x", base_url=f"{url}/v1", max_retries=4
            )
        else:
            client = groq.Groq(api_key="x", base_url=url, max_retries=4)
        raw = client.models.with_raw_response.list()
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        assert raw.headers["x-ratelimit-remaining-requests"] == "1"
        texts = [
            client.audio.transcriptions.create(file=("a.wav", CLIP), model="whisper-large-v3")
            for _ in range(3)
        ]
        assert all("hello" in t.text.lower() for t in texts)
        assert _metric_429(url) >= 1  # the SDK met a 429 and got through by retrying


def test_speech_characters_budget(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(rate_limits={"characters": "30/minute"})
    body = {"model": "playai-tts", "voice": "Fritz-PlayAI", "input": "Twenty characters ok"}
    with live_server(settings) as (url, _app):
        first = httpx.post(f"{url}/v1/audio/speech", json=body, timeout=60)
        second = httpx.post(f"{url}/v1/audio/speech", json=body, timeout=60)
    assert first.status_code == 200 and len(first.content) > 1000
    assert first.headers["x-ratelimit-remaining-characters"] == "10"
    assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limit_exceeded"


def test_audio_seconds_budget_counts_what_was_transcribed(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(rate_limits={"audio_seconds": "8/minute"})
    with live_server(settings) as (url, _app):

        def send() -> httpx.Response:
            return httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                              files={"file": ("a.wav", CLIP)}, timeout=60)  # fmt: skip

        statuses = [send().status_code for _ in range(3)]
        check = send()
    assert statuses == [200, 200, 429]  # 4 s + 4 s of 8; the third finds none left
    assert check.headers["x-ratelimit-limit-audio-seconds"] == "8"
    assert check.headers["x-ratelimit-remaining-audio-seconds"] == "0"


def test_budgets_are_per_key(make_settings) -> None:  # type: ignore[no-untyped-def]
    vip = hashlib.sha256(b"vip-key").hexdigest()
    settings = make_settings(
        api_keys=["basic-key", "vip-key"],
        rate_limits={"requests": "1/minute", "per_key": {vip: {"requests": "100/minute"}}},
    )
    with live_server(settings) as (url, _app):

        def status(key: str) -> int:
            headers = {"authorization": f"Bearer {key}"}
            return httpx.get(f"{url}/v1/models", headers=headers).status_code

        assert [status("basic-key") for _ in range(2)] == [200, 429]
        assert [status("vip-key") for _ in range(3)] == [200, 200, 200]
        assert status("wrong-key") == 401  # the key check comes before the budget


def test_a_projects_keys_share_its_budget(make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Budgets belong to the project: a team's two keys spend one budget; `per_project`
    gives a project its own."""
    keys = tmp_path / "keys.txt"
    digest = {k: hashlib.sha256(k.encode()).hexdigest() for k in ("a1", "a2", "b1", "vip")}
    keys.write_text(f"team-a {digest['a1']}\nteam-a {digest['a2']}\nteam-b {digest['b1']}\n"
                    f"gold {digest['vip']}\n")  # fmt: skip
    settings = make_settings(
        api_keys_file=keys,
        rate_limits={"requests": "2/minute", "per_project": {"gold": {"requests": "100/minute"}}},
    )
    with live_server(settings) as (url, _app):

        def status(key: str) -> int:
            headers = {"authorization": f"Bearer {key}"}
            return httpx.get(f"{url}/v1/models", headers=headers).status_code

        assert [status("a1"), status("a2"), status("a1"), status("a2")] == [200, 200, 429, 429]
        assert [status("b1") for _ in range(3)] == [200, 200, 429]  # its own budget
        assert [status("vip") for _ in range(4)] == [200] * 4


@pytest.mark.slow
def test_two_replicas_sharing_redis_enforce_one_limit(redis_url: str) -> None:
    env = {"SPEECH_RATE_LIMITS__REQUESTS": "4/minute",
           "SPEECH_RATE_LIMITS__STORAGE_URI": redis_url, "SPEECH_WARMUP": "false",
           "SPEECH_LOG_LEVEL": "warning"}  # fmt: skip
    with ExitStack() as stack:
        urls = [stack.enter_context(server_process(env))[0] for _ in range(2)]
        seen = [httpx.get(f"{urls[i % 2]}/v1/models", timeout=30) for i in range(6)]
    assert [r.status_code for r in seen] == [200, 200, 200, 200, 429, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in seen[:4]] == ["3", "2", "1", "0"]
