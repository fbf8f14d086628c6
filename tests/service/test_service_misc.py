"""Health, readiness, metrics, auth, request ids, and the CLI."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from threadpoolctl import threadpool_info

from ..helpers import REFERENCES, SAMPLES, kokoro_installed, live_server, run_cli, wer

CLIP = SAMPLES / "hello_en.wav"


def test_health_ready_metrics(server: str) -> None:
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server}/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    httpx.post(
        f"{server}/v1/audio/transcriptions", data={"model": "nope"}, files={"file": ("a", b"x")}
    )
    metrics = httpx.get(f"{server}/metrics")
    assert metrics.status_code == 200
    assert 'speech_requests_total{route="/audio/transcriptions",status="404"}' in metrics.text
    assert "speech_inference_pending" in metrics.text


def test_every_response_has_request_id(server: str) -> None:
    ids = set()
    for response in (
        httpx.get(f"{server}/health"),
        httpx.get(f"{server}/v1/models"),
        httpx.get(f"{server}/nowhere"),
        httpx.post(f"{server}/v1/audio/transcriptions", data={}),
    ):
        rid = response.headers["x-request-id"]
        assert rid.startswith("req_")
        ids.add(rid)
    assert len(ids) == 4


def test_json_x_groq_id_matches_header(server: str) -> None:
    response = httpx.post(
        f"{server}/openai/v1/audio/transcriptions",
        data={"model": "whisper-large-v3"},
        files={"file": ("a.wav", CLIP.read_bytes())},
        timeout=120,
    )
    body = response.json()
    assert body["x_groq"]["id"] == response.headers["x-request-id"]
    assert body["usage"]["type"] == "duration" and body["usage"]["seconds"] > 3


def test_api_keys(make_settings) -> None:  # type: ignore[no-untyped-def]
    with live_server(make_settings(api_keys=["sekret"])) as (url, _app):
        bad = openai.OpenAI(api_key="wrong", base_url=f"{url}/v1", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            bad.models.list()
        assert err.value.body["code"] == "invalid_api_key"  # type: ignore[index]
        assert httpx.get(f"{url}/v1/models").status_code == 401
        good = openai.OpenAI(api_key="sekret", base_url=f"{url}/v1", max_retries=0)
        assert any(m.id == "whisper-1" for m in good.models.list())
        assert httpx.get(f"{url}/health").status_code == 200


def test_cli_transcribe_formats(cache_dir) -> None:  # type: ignore[no-untyped-def]
    env = {"SPEECH_STT__CACHE_DIR": str(cache_dir)}
    text = run_cli("transcribe", str(CLIP), **env)
    assert text.returncode == 0, text.stderr
    assert wer(REFERENCES["hello_en.wav"]["text"], text.stdout) <= 0.1
    verbose = run_cli(
        "transcribe", str(CLIP), "--format", "verbose_json", "--language", "en", **env
    )
    body = json.loads(verbose.stdout)
    assert body["language"] == "english" and body["words"]
    translated = run_cli("transcribe", str(SAMPLES / "speech_de.mp3"), "--translate", **env)
    assert "good morning" in translated.stdout.lower()
    listing = run_cli("models", "list", **env)
    assert "whisper-base" in listing.stdout and "installed" in listing.stdout
    missing = run_cli("transcribe", "/nonexistent.wav", **env)
    assert missing.returncode == 1 and "valid media file" in missing.stderr


def test_warmup_loads_every_model_before_the_first_request(make_settings) -> None:  # type: ignore[no-untyped-def]
    with live_server(make_settings(warmup=True)) as (url, app):
        stt, tts = app.state.stt, app.state.tts
        assert stt.registry.load_counts == {"whisper-base": 1}
        engines = dict(tts.engines.load_counts)
        fritz = tts.engines.engine_for(tts.catalog.lookup("Fritz-PlayAI"))[0]
        assert set(engines) >= {fritz, tts.engines.resolve("arabic")}
        # Piper renders with noise, so the same text sounds a little different each time:
        # "Hello there." came back as "Blow there." once in a CI run ("Hello" was heard as
        # "Below" in 2 of 50 renders here). This sentence: at most 2 words of 10 wrong in
        # 30 renders.
        said = "The weather today is mostly sunny with a light breeze."
        spoken = httpx.post(f"{url}/v1/audio/speech", json={
            "model": "playai-tts", "voice": "Fritz-PlayAI", "input": said})  # fmt: skip
        heard = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                           files={"file": ("a.wav", spoken.content)}, timeout=60)  # fmt: skip
        assert heard.status_code == 200 and wer(said, heard.json()["text"]) <= 0.3
        assert stt.registry.load_counts == {"whisper-base": 1}
        assert tts.engines.load_counts == engines  # nothing loaded on demand


def test_metrics_an_operator_alerts_on(make_settings) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client.parser import text_string_to_metric_families

    settings = make_settings(rate_limits={"characters": "100/minute"})
    with live_server(settings) as (url, _app):
        heard = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                           files={"file": ("a.wav", CLIP.read_bytes())}, timeout=60)  # fmt: skip
        body = {"model": "playai-tts", "voice": "Fritz-PlayAI", "input": "x" * 60}
        spoken = [httpx.post(f"{url}/v1/audio/speech", json=body, timeout=60) for _ in range(2)]
        text = httpx.get(f"{url}/metrics").text
    assert heard.status_code == 200 and [r.status_code for r in spoken] == [200, 429]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("speech_audio_seconds_total", direction="in") == pytest.approx(3.48, abs=0.05)
    assert value("speech_audio_seconds_total", direction="out") > 1.0
    assert value("speech_model_loads_total", kind="stt", model="whisper-base") == 1
    engine = "kokoro:am_adam" if kokoro_installed() else "piper:en_US-joe-medium"
    assert value("speech_model_loads_total", kind="tts", model=engine) == 1  # Fritz's
    assert value("speech_windows_total", model="whisper-base") >= 1
    assert value("speech_batches_total", model="whisper-base") >= 1
    assert value("speech_batcher_queued_windows", model="whisper-base") == 0
    assert value("speech_inference_pending") == 0
    assert value("process_resident_memory_bytes") > 50e6
    refused = [v for (name, labels), v in samples.items()
               if name == "speech_requests_total" and ("status", "429") in labels]  # fmt: skip
    assert refused == [1.0]


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_numpy_blas_keeps_to_one_thread_while_the_service_lives(make_settings) -> None:  # type: ignore[no-untyped-def]
    """OpenBLAS's idle threads spin and take a core from the decoders: the service keeps
    numpy's BLAS to one thread (for the rest of the process: see `blas_limit`)."""
    with live_server(make_settings()) as (url, _app):
        assert _blas_threads() == {1}
        response = httpx.post(
            f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"},
            files={"file": ("a.wav", CLIP.read_bytes())}, timeout=300,
        )  # fmt: skip
        assert wer(REFERENCES["hello_en.wav"]["text"], response.json()["text"]) <= 0.1
        assert _blas_threads() == {1}
    assert _blas_threads() == {1}
