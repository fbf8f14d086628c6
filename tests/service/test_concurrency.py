"""Cold-start loading, the bounded queue and the 503 overflow, on a live server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from ..helpers import REFERENCES, SAMPLES, live_server, wer

CLIP = (SAMPLES / "hello_en.wav").read_bytes()
REFERENCE = REFERENCES["hello_en.wav"]["text"]


def _post(url: str) -> httpx.Response:
    return httpx.post(
        f"{url}/openai/v1/audio/transcriptions",
        data={"model": "whisper-large-v3-turbo"},
        files={"file": ("a.wav", CLIP, "audio/wav")},
        timeout=300,
    )


def test_ten_concurrent_requests_on_cold_server_load_the_model_once(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(workers={"workers": 2, "queue_size": 16})
    with live_server(settings) as (url, app):
        registry = app.state.stt.registry
        assert registry.load_counts == {}
        with ThreadPoolExecutor(10) as pool:
            responses = list(pool.map(lambda _: _post(url), range(10)))
        assert [r.status_code for r in responses] == [200] * 10
        assert all(wer(REFERENCE, r.json()["text"]) <= 0.1 for r in responses)
        assert registry.load_counts == {"whisper-base": 1}


def test_full_queue_gets_503_with_retry_after_and_sdk_retries_lose_nothing(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(workers={"workers": 1, "queue_size": 1, "retry_after_seconds": 1})
    with live_server(settings) as (url, app):
        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(lambda _: _post(url), range(6)))
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) >= 2 and statuses.count(503) >= 1, statuses
        for r in responses:
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1"
                assert r.json()["error"]["code"] == "overloaded"
            else:
                assert wer(REFERENCE, r.json()["text"]) <= 0.1
        assert app.state.stt.pool.rejected == statuses.count(503)

        rejected_before = app.state.stt.pool.rejected
        client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=8)

        def sdk_call(_: int) -> str:
            return client.audio.transcriptions.create(file=("a.wav", CLIP), model="whisper-1").text

        with ThreadPoolExecutor(6) as pool:
            texts = list(pool.map(sdk_call, range(6)))
        assert all(wer(REFERENCE, t) <= 0.1 for t in texts)
        assert app.state.stt.pool.rejected > rejected_before  # some were retried after a 503
        assert app.state.stt.pool.pending == 0
