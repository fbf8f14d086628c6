"""Model ids that keep up with the SDKs: every id in the installed openai and groq SDKs'
model literals answers 200 (a new SDK release that adds one fails here until it is
mapped); the operator's alias setting works; an unknown id is still a 404."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import groq
import httpx
import openai
import pytest
from groq.types.audio import speech_create_params, transcription_create_params
from openai.types.audio.speech_model import SpeechModel
from openai.types.audio_model import AudioModel

from ..helpers import SAMPLES, live_server, run_cli

HELLO = (SAMPLES / "hello_en.wav").read_bytes()


def literals(annotation: Any) -> set[str]:
    """Every string of the Literal types inside an annotation (Union, Required, ...)."""
    if typing.get_origin(annotation) is typing.Literal:
        return {a for a in typing.get_args(annotation) if isinstance(a, str)}
    return set().union(*(literals(a) for a in typing.get_args(annotation)))


def _model(params: type) -> set[str]:
    return literals(typing.get_type_hints(params, include_extras=True)["model"])


STT_IDS = sorted(
    literals(AudioModel) | _model(transcription_create_params.TranscriptionCreateParams)
)
TTS_IDS = sorted(literals(SpeechModel) | _model(speech_create_params.SpeechCreateParams))


def test_the_sdks_literals_are_read() -> None:
    assert {"whisper-1", "gpt-transcribe", "whisper-large-v3"} <= set(STT_IDS)
    assert {"tts-1", "gpt-4o-mini-tts", "playai-tts"} <= set(TTS_IDS)


@pytest.fixture(scope="module")
def url(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    aliases = {"asr-next": "whisper-1", "tts-next": "tts-1", "voice-next": "Fritz-PlayAI"}
    with live_server(make_settings(model_aliases=aliases)) as (base, _app):
        yield base


@pytest.mark.parametrize("model", STT_IDS)
def test_every_sdk_transcription_id_is_served(url: str, model: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    response = client.audio.transcriptions.with_raw_response.create(
        model=model, file=("hello.wav", HELLO), language="en"
    )
    assert response.status_code == 200
    assert response.headers["x-served-model"] == "whisper-base"  # the fallback, said so
    assert "hello" in response.parse().text.lower()


@pytest.mark.parametrize("model", TTS_IDS)
def test_every_sdk_speech_id_is_served(url: str, model: str) -> None:
    client = groq.Groq(base_url=url, api_key="x", max_retries=0)
    voice = "Ahmad-PlayAI" if model.endswith("arabic") else "alloy"
    text = "مرحبا." if model.endswith("arabic") else "Hello."
    audio = client.audio.speech.create(model=model, voice=voice, input=text,
                                       response_format="wav")  # fmt: skip
    assert audio.read()[:4] == b"RIFF"


def test_the_models_list_names_every_sdk_id(url: str) -> None:
    listed = {m.id for m in openai.OpenAI(base_url=f"{url}/v1", api_key="x").models.list()}
    assert set(STT_IDS) | set(TTS_IDS) <= listed


def test_operator_aliases_and_unknown_ids(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    text = client.audio.transcriptions.create(model="asr-next", file=("hello.wav", HELLO),
                                              language="en").text  # fmt: skip
    assert "hello" in text.lower()
    spoken = httpx.post(f"{url}/v1/audio/speech", json={
        "model": "tts-next", "voice": "voice-next", "input": "Hello.", "stream": False,
    }, timeout=120)  # fmt: skip
    assert spoken.status_code == 200 and spoken.headers["x-voice"] == "Fritz-PlayAI"
    with pytest.raises(openai.NotFoundError) as unknown:
        client.audio.transcriptions.create(model="asr-unheard-of", file=("hello.wav", HELLO))
    assert unknown.value.response.json()["error"]["code"] == "model_not_found"


def test_an_alias_to_nothing_stops_the_server_at_startup() -> None:
    done = run_cli("models", "list", SPEECH_MODEL_ALIASES='{"asr-next": "whisper-9"}')
    assert done.returncode == 2
    assert "SPEECH_MODEL_ALIASES" in done.stderr and "whisper-9" in done.stderr
