"""The house rules, checked on the source: the rooms stay framework-free, and the
services are built in exactly one place."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import ROOT

ROOMS = ("common", "diarizer", "jobs", "realtime", "segmenter", "transcriber", "voices")
"""Framework-free packages: they never import the web framework or the service shell."""
FORBIDDEN = ("fastapi", "starlette", "sse_starlette", "uvicorn", "audio")
BUILT_ONCE = {
    "SttService",
    "TtsService",
    "InferencePool",
    "ModelRegistry",
    "VoiceEngines",
    "JobStore",
    "BatchRunner",
    "DiarizeService",
}
"""Constructed only in audio/services.py (tests aside)."""


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(source: str) -> Iterator[str]:
    """Every module name an import statement in `source` names (relative ones skipped)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def forbidden(source: str) -> list[str]:
    return [name for name in imported(source) if any(name.split(".")[0] == f for f in FORBIDDEN)]


def test_the_walker_sees_every_import_form() -> None:
    source = "import fastapi\nimport numpy as np\nfrom audio.errors import X\n"
    source += "def f():\n    from starlette.requests import Request\n"
    assert forbidden(source) == ["fastapi", "audio.errors", "starlette.requests"]
    assert forbidden("import audiolib\nfrom audios import x\n") == []


@pytest.mark.parametrize("package", ROOMS)
def test_rooms_never_import_the_framework_or_the_shell(package: str) -> None:
    modules = _modules(package)
    assert modules, f"{package}/ has no modules"
    offending = {
        str(path.relative_to(ROOT)): names
        for path in modules
        if (names := forbidden(path.read_text()))
    }
    assert offending == {}


def test_services_are_built_in_one_place() -> None:
    builders: dict[str, set[str]] = {}
    for path in [*_modules("audio"), *(p for room in ROOMS for p in _modules(room))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in BUILT_ONCE
            ):
                builders.setdefault(node.func.id, set()).add(str(path.relative_to(ROOT)))
    assert builders == {name: {"audio/services.py"} for name in BUILT_ONCE}
