"""Piper voice ids are checked before any path is built from them (no traversal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voices.registry import piper_repo_path

from ..helpers import run_cli


def test_a_voice_id_maps_to_its_place_in_piper_voices() -> None:
    assert (
        piper_repo_path("ar_JO-kareem-medium") == "ar/ar_JO/kareem/medium/ar_JO-kareem-medium.onnx"
    )


@pytest.mark.parametrize(
    "voice_id", ["../../etc/x-y-medium", "en_US-joe/../../x-medium", "en_US-joe-medium/..", "x"]
)
def test_ids_that_are_not_voice_ids_are_refused(voice_id: str) -> None:
    with pytest.raises(ValueError, match="not a Piper voice id"):
        piper_repo_path(voice_id)


def test_cli_pull_refuses_a_traversal_without_writing(tmp_path: Path) -> None:
    voices = tmp_path / "voices"
    done = run_cli("voices", "pull", "../../escape-x-medium", timeout=60,
                   SPEECH_TTS__VOICES_DIR=str(voices), HF_HUB_OFFLINE="1")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: not a Piper voice id: '../../escape-x-medium' (like en_US-joe-medium)"
    ]
    assert not voices.exists() and not (tmp_path / "escape-x-medium.onnx").exists()
