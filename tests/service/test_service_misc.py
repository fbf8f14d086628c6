"""Health, readiness, metrics, auth, request ids, and the CLI."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from ..helpers import REFERENCES, SAMPLES, live_server, run_cli, wer

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
        assert set(engines) >= {"piper:en_US-joe-medium", tts.engines.resolve("arabic")}
        spoken = httpx.post(f"{url}/v1/audio/speech", json={
            "model": "playai-tts", "voice": "Fritz-PlayAI", "input": "Hello there."})  # fmt: skip
        heard = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                           files={"file": ("a.wav", spoken.content)}, timeout=60)  # fmt: skip
        assert heard.status_code == 200 and "hello" in heard.json()["text"].lower()
        assert stt.registry.load_counts == {"whisper-base": 1}
        assert tts.engines.load_counts == engines  # nothing loaded on demand
