"""Diarization over HTTP: the real openai SDK parses `diarized_json` into its own type,
known speakers name the right voice, SSE segments, speakers in verbose_json/srt/vtt,
and every bad input is a 400 in the contract's envelope."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from openai.types.audio import TranscriptionDiarized

from audio.media.decode import decode_audio
from audio.settings import DiarizationSettings
from bench.conversations import Conversation, conversation, real_speakers
from diarizer.metrics import der_parts
from diarizer.types import SpeakerTurn
from segmenter.vad import SileroVad

from ..helpers import live_server, wav_bytes


@pytest.fixture(scope="module")
def talk(shared_samples: Path) -> Conversation:
    """JFK and the reader of multilingual.mp3 taking turns (overlaps, short turns)."""
    speakers = real_speakers(shared_samples, SileroVad())
    return conversation("talk", speakers, np.random.default_rng(11), turns=10)


@pytest.fixture(scope="module")
def oai(server: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="x", base_url=f"{server}/v1", max_retries=0)


def _data_url(samples: np.ndarray) -> str:
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(samples)).decode()


def _references(shared: Path) -> dict[str, str]:
    jfk = decode_audio(str(shared / "jfk.flac"))[: 16000 * 8]
    reader = decode_audio(str(shared / "multilingual.mp3"))[16000 * 20 : 16000 * 28]
    return {"kennedy": _data_url(jfk), "reader": _data_url(reader)}


def _turns(result: TranscriptionDiarized) -> list[SpeakerTurn]:
    return [SpeakerTurn(s.start, s.end, s.speaker) for s in result.segments]


def test_openai_sdk_parses_diarized_json(oai: openai.OpenAI, talk: Conversation) -> None:
    result = oai.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("talk.wav", wav_bytes(talk.samples)),
        response_format="diarized_json", language="en",
    )  # fmt: skip
    assert isinstance(result, TranscriptionDiarized)
    assert result.task == "transcribe" and result.duration == pytest.approx(
        talk.samples.shape[0] / 16000, abs=0.01
    )
    assert {s.speaker for s in result.segments} == {"A", "B"}
    assert result.segments[0].speaker == "A"
    assert all(s.type == "transcript.text.segment" and s.id.startswith("seg_")
               for s in result.segments)  # fmt: skip
    assert " ".join(s.text for s in result.segments).split() == result.text.split()
    # segment-level attribution against the reference (words, so a looser bound than DER)
    assert der_parts(talk.turns, _turns(result)).der < 0.3


def _kennedy_named(
    client: openai.OpenAI, talk: Conversation, refs: dict[str, str]
) -> TranscriptionDiarized:
    """The talk diarized with one known speaker: JFK's reference, named "kennedy"."""
    return client.audio.transcriptions.create(
        model="whisper-1", file=("talk.wav", wav_bytes(talk.samples)),
        response_format="diarized_json", known_speaker_names=["kennedy"],
        known_speaker_references=[refs["kennedy"]],
    )  # fmt: skip


def _assert_kennedy_named(client: openai.OpenAI, talk: Conversation, shared_samples: Path) -> None:
    """With JFK's reference alone, his speaker is named "kennedy", the reader keeps a
    letter, and the attribution stays within 30% DER."""
    named = _kennedy_named(client, talk, _references(shared_samples))
    assert {s.speaker for s in named.segments} == {"kennedy", "A"}
    jfk = {"jfk": "kennedy", "reader": "A"}
    reference = [SpeakerTurn(t.start, t.end, jfk[t.speaker]) for t in talk.turns]
    assert der_parts(reference, _turns(named)).der < 0.3


def test_known_speakers_name_the_right_voice(
    oai: openai.OpenAI, talk: Conversation, shared_samples: Path
) -> None:
    refs = _references(shared_samples)
    result = oai.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("talk.wav", wav_bytes(talk.samples)),
        response_format="diarized_json", known_speaker_names=list(refs),
        known_speaker_references=list(refs.values()),
    )  # fmt: skip
    assert {s.speaker for s in result.segments} == {"kennedy", "reader"}
    named = {"jfk": "kennedy", "reader": "reader"}
    reference = [SpeakerTurn(t.start, t.end, named[t.speaker]) for t in talk.turns]
    right = sum(
        max(0.0, min(s.end, t.end) - max(s.start, t.start))
        for s in result.segments for t in reference if s.speaker == t.speaker
    )  # fmt: skip
    spoken = sum(s.end - s.start for s in result.segments)
    assert right / spoken > 0.8
    # one reference only: that speaker is named, the other gets a letter
    one = _kennedy_named(oai, talk, refs)
    assert {s.speaker for s in one.segments} == {"kennedy", "A"}


def test_stream_sends_segments_then_done(oai: openai.OpenAI, talk: Conversation) -> None:
    stream = oai.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("talk.wav", wav_bytes(talk.samples)),
        response_format="diarized_json", stream=True,
    )  # fmt: skip
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[-1] == "transcript.text.done" and set(kinds[:-1]) == {"transcript.text.segment"}
    assert {e.speaker for e in events[:-1]} == {"A", "B"}  # type: ignore[union-attr]


def test_speakers_in_verbose_json_srt_and_vtt(server: str, talk: Conversation) -> None:
    files = {"file": ("talk.wav", wav_bytes(talk.samples), "audio/wav")}
    with httpx.Client(base_url=server, timeout=120) as c:

        def post(response_format: str, **extra: str) -> httpx.Response:
            data = {"model": "whisper-1", "response_format": response_format, **extra}
            return c.post("/v1/audio/transcriptions", files=files, data=data)

        verbose = post("verbose_json", diarize="true").json()
        assert {s["speaker"] for s in verbose["segments"]} == {"A", "B"}
        vtt = post("vtt", diarize="true").text
        assert "<v A>" in vtt and "<v B>" in vtt
        srt = post("srt", diarize="true").text
        assert "[A] " in srt and "[B] " in srt
        plain = post("verbose_json").json()
        assert all("speaker" not in s for s in plain["segments"])
        fixed = post("diarized_json", min_speakers="3", max_speakers="3").json()
        assert len({s["speaker"] for s in fixed["segments"]}) <= 3


def test_one_speaker_and_silence(oai: openai.OpenAI, shared_samples: Path) -> None:
    jfk = (shared_samples / "jfk.flac").read_bytes()
    alone = oai.audio.transcriptions.create(
        model="whisper-1", file=("jfk.flac", jfk), response_format="diarized_json"
    )
    assert {s.speaker for s in alone.segments} == {"A"}
    assert "ask not what your country" in alone.text
    quiet = oai.audio.transcriptions.create(
        model="whisper-1", file=("quiet.wav", wav_bytes(np.zeros(16000 * 3, np.float32))),
        response_format="diarized_json",
    )  # fmt: skip
    assert quiet.segments == [] and quiet.text == ""


def test_many_voices_give_sensible_output(server: str, shared_samples: Path) -> None:
    """Ten voices (two real, eight rendered) in one file: at most ten labels, each segment
    one speaker, in time order."""
    from bench.diarize import tts_speakers

    speakers = real_speakers(shared_samples, SileroVad()) + tts_speakers(8)
    talk = conversation("ten", speakers, np.random.default_rng(3), turns=20)
    with httpx.Client(base_url=server, timeout=300) as c:
        r = c.post("/v1/audio/transcriptions",
                   files={"file": ("ten.wav", wav_bytes(talk.samples), "audio/wav")},
                   data={"model": "whisper-1", "response_format": "diarized_json"})  # fmt: skip
    assert r.status_code == 200, r.text
    segments = r.json()["segments"]
    assert 2 <= len({s["speaker"] for s in segments}) <= 10
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts)


BAD_BASE64 = "data:audio/wav;base64,%%"


def _error(r: httpx.Response, status: int, param: str) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    return str(error["message"])


def test_bad_diarization_requests(server: str, shared_samples: Path) -> None:
    refs = _references(shared_samples)
    clip = wav_bytes(np.zeros(16000, np.float32))
    too_long = _data_url(np.tile(decode_audio(str(shared_samples / "jfk.flac")), 2)[: 16000 * 12])
    too_short = _data_url(decode_audio(str(shared_samples / "jfk.flac"))[:16000])
    base = {"model": "gpt-4o-transcribe-diarize", "response_format": "diarized_json"}
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"prompt": "names: Kennedy"}, "prompt", "prompt"),
        ({"known_speaker_names[]": ["a", "b", "c", "d", "e"],
          "known_speaker_references[]": [refs["kennedy"]] * 5}, "known_speaker_names", "at most 4"),
        ({"known_speaker_names[]": ["a", "b"], "known_speaker_references[]": [refs["kennedy"]]},
         "known_speaker_names", "same number"),
        ({"known_speaker_names[]": ["a"], "known_speaker_references[]": ["https://x/a.wav"]},
         "known_speaker_references[0]", "data: URL"),
        ({"known_speaker_names[]": ["a"],
          "known_speaker_references[]": ["data:audio/wav;base64,bm90IGF1ZGlv"]},
         "known_speaker_references[0]", "valid media file"),
        ({"known_speaker_names[]": ["a", "b"],
          "known_speaker_references[]": [refs["kennedy"], too_long]},
         "known_speaker_references[1]", "2 to 10 s"),
        ({"known_speaker_names[]": ["a"], "known_speaker_references[]": [too_short]},
         "known_speaker_references[0]", "2 to 10 s"),
        ({"known_speaker_names[]": ["a"], "known_speaker_references[]": [BAD_BASE64]},
         "known_speaker_references[0]", "base64"),
        ({"min_speakers": "4", "max_speakers": "2"}, "min_speakers", "larger"),
        ({"max_speakers": "11"}, "max_speakers", "1 to 10"),
        ({"min_speakers": "two"}, "min_speakers", "whole number"),
    ]  # fmt: skip
    with httpx.Client(base_url=server, timeout=60) as c:
        for extra, param, words in cases:
            r = c.post("/v1/audio/transcriptions", data={**base, **extra},
                       files={"file": ("a.wav", clip, "audio/wav")})  # fmt: skip
            assert words in _error(r, 400, param), (extra, r.text)
        r = c.post("/v1/audio/translations", data=base,
                   files={"file": ("a.wav", clip, "audio/wav")})  # fmt: skip
        assert "translations" in _error(r, 400, "response_format")
        r = c.post("/v1/audio/transcriptions",
                   data={"model": "whisper-1", "known_speaker_names[]": "a",
                         "known_speaker_references[]": refs["kennedy"]},
                   files={"file": ("a.wav", clip, "audio/wav")})  # fmt: skip
        assert "diarized_json" in _error(r, 400, "known_speaker_names")
        # after all of that, the next request is served
        ok = c.post("/v1/audio/transcriptions", data=base,
                    files={"file": ("a.wav", clip, "audio/wav")})  # fmt: skip
        assert ok.status_code == 200 and json.loads(ok.text)["segments"] == []


def test_cli_diarizes(talk: Conversation, tmp_path: Path, cache_dir: Path) -> None:
    from ..helpers import run_cli

    path = tmp_path / "talk.wav"
    path.write_bytes(wav_bytes(talk.samples))
    env = {"SPEECH_STT__CACHE_DIR": str(cache_dir), "SPEECH_LOG_LEVEL": "warning"}
    lines = run_cli("transcribe", str(path), "--diarize", "--language", "en", **env)
    assert lines.returncode == 0, lines.stderr
    labels = {line.split("]")[0] + "]" for line in lines.stdout.splitlines()}
    assert labels == {"[A]", "[B]"}
    fixed = run_cli("transcribe", str(path), "--speakers", "1", "--format", "vtt", **env)
    assert fixed.returncode == 0, fixed.stderr
    assert "<v A>" in fixed.stdout and "<v B>" not in fixed.stdout
    wrong = run_cli("transcribe", str(path), "--diarize", "--translate", **env)
    assert wrong.returncode == 2 and "translations" in wrong.stderr


def _meeting(client: openai.OpenAI, shared_samples: Path, name: str) -> tuple[int, float]:
    """An AMI excerpt through the openai SDK as diarized_json: (speakers found, DER of the
    segments against the reference), after checking the count is within one."""
    from bench.diarize import meeting_references

    meetings = shared_samples / "meetings"
    audio = (meetings / f"{name}.flac").read_bytes()
    result = client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=(f"{name}.flac", audio),
        response_format="diarized_json", language="en",
    )  # fmt: skip
    assert isinstance(result, TranscriptionDiarized)
    reference = meeting_references(meetings)[name]
    found = len({s.speaker for s in result.segments})
    assert found >= 2 and abs(found - len({t.speaker for t in reference})) <= 1
    return found, der_parts(reference, _turns(result)).der


def test_a_real_meeting_through_the_openai_sdk(oai: openai.OpenAI, shared_samples: Path) -> None:
    """AMI excerpt trn06 (three people on one room's microphone, overlapping speech), on
    the default pipeline (the segmentation model): more than one speaker, the count
    within one of the truth (the issue's bar for meetings), and the segments'
    attribution within the bound measured for it (20.5% with words, 2026-12-04). The
    second voice is heard only over the first, so this also holds the join's rule that
    a word two turns cover goes to the later one."""
    _found, der = _meeting(oai, shared_samples, "trn06")
    assert der <= 0.3


@pytest.fixture(scope="module")
def ecapa_oai(make_settings) -> Iterator[openai.OpenAI]:  # type: ignore[no-untyped-def]
    """A server whose diarization runs on the ECAPA encoder."""
    from ..diarizer.test_ecapa import ecapa_encoder

    ecapa_encoder()  # skips, saying why, where make install could not keep its weights
    settings = make_settings(diarization=DiarizationSettings(encoder="ecapa"))
    with live_server(settings) as (url, _app):
        yield openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)


def test_the_ecapa_encoder_serves_diarized_json_and_names_known_voices(
    ecapa_oai: openai.OpenAI, talk: Conversation, shared_samples: Path
) -> None:
    result = ecapa_oai.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("talk.wav", wav_bytes(talk.samples)),
        response_format="diarized_json", language="en",
    )  # fmt: skip
    assert isinstance(result, TranscriptionDiarized)
    assert {s.speaker for s in result.segments} == {"A", "B"}
    assert der_parts(talk.turns, _turns(result)).der < 0.3
    _assert_kennedy_named(ecapa_oai, talk, shared_samples)


@pytest.fixture(scope="module")
def windows_oai(make_settings) -> Iterator[openai.OpenAI]:  # type: ignore[no-untyped-def]
    """A server whose diarization cuts files into VAD windows (`segmentation=false`)."""
    settings = make_settings(diarization=DiarizationSettings(segmentation=False))
    with live_server(settings) as (url, _app):
        yield openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)


def test_the_window_pipeline_serves_a_real_meeting(
    windows_oai: openai.OpenAI, shared_samples: Path
) -> None:
    """AMI trn06 with `SPEECH_DIARIZATION__SEGMENTATION=false`: the openai SDK parses the
    result, the count is within one of the truth, and the segments' attribution is
    within the bound measured for it (24.5% with words, 2026-12-04)."""
    _found, der = _meeting(windows_oai, shared_samples, "trn06")
    assert der <= 0.35


def test_the_window_pipeline_names_a_known_voice(
    windows_oai: openai.OpenAI, talk: Conversation, shared_samples: Path
) -> None:
    """Known speakers work the same on the window pipeline: JFK's reference names his
    speaker, the reader keeps a letter, and the attribution holds."""
    _assert_kennedy_named(windows_oai, talk, shared_samples)


def test_absent_segmentation_weights_fall_back_unless_asked_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Left at its default, a missing segmentation checkpoint means the VAD windows and a
    warning naming the command that installs it; set explicitly, it is refused."""
    from audio.services.diarize import load_segmentation
    from diarizer.errors import EncoderNotInstalled

    default = DiarizationSettings(ecapa_dir=tmp_path)
    with caplog.at_level("WARNING", logger="audio.services.diarize"):
        assert load_segmentation(default) is None
    assert "VAD windows" in caplog.text and "speakers segmentation" in caplog.text
    with pytest.raises(EncoderNotInstalled, match="is missing"):
        load_segmentation(DiarizationSettings(ecapa_dir=tmp_path, segmentation=True))
    assert load_segmentation(DiarizationSettings(ecapa_dir=tmp_path, segmentation=False)) is None
