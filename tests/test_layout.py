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
"""Constructed only in audio/wiring.py (tests aside)."""


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
    assert builders == {name: {"audio/wiring.py"} for name in BUILT_ONCE}


SHELL = "audio"
FRAMEWORK = ("fastapi", "starlette", "sse_starlette")
FRAMEWORK_ALLOWED = ("audio/api/", "audio/app.py")
"""The shell's rule: only the HTTP layer and the app factory know the web framework."""
PACKAGES = (SHELL, "bench", *ROOMS)
"""Every package of ours, whose modules must not import each other in a circle."""


def test_only_the_http_layer_and_the_app_factory_import_the_framework() -> None:
    offending = {}
    for path in _modules(SHELL):
        relative = str(path.relative_to(ROOT))
        if relative.startswith(FRAMEWORK_ALLOWED):
            continue
        names = [n for n in imported(path.read_text()) if n.split(".")[0] in FRAMEWORK]
        if names:
            offending[relative] = names
    assert offending == {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports anywhere (inside functions too), from
    {module: (source, is_package)}. `from a import b` is an edge to `a.b` when that is a
    module of ours, else to `a`; relative imports are resolved."""
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, (source, is_package) in sources.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(source)):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in sources else base
                           for alias in node.names]  # fmt: skip
            for target in targets:
                while target and target not in sources:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_imports_inside_functions() -> None:
    sources = {
        "p": ("", True),
        "p.a": ("from p import b\n", False),
        "p.b": ("def f():\n    from .c import g\n", False),
        "p.c": ("import p.a\n", False),
        "p.d": ("from p.a import x\n", False),
    }
    assert cycles(import_graph(sources)) == [["p.a", "p.b", "p.c"]]


def test_no_import_cycles_anywhere() -> None:
    sources = {
        _module_name(path): (path.read_text(), path.name == "__init__.py")
        for package in PACKAGES
        for path in _modules(package)
    }
    assert cycles(import_graph(sources)) == []


def _calls(path: Path, name: str) -> bool:
    """Whether the module calls `name` (a plain name or an attribute)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called == name:
                return True
    return False


REQUEST_MODULE = "audio/services/request.py"
ENTRY_POINTS = ("audio/api/transcriptions.py", "audio/cli.py", "audio/batch/folder.py",
                "audio/batch/lines.py")  # fmt: skip
"""The route, the CLI, the folder batch and batch lines (Ray's actors run the last two)."""


def test_a_transcription_requests_options_are_made_in_one_place() -> None:
    makers = {str(p.relative_to(ROOT)) for p in _modules(SHELL) if _calls(p, "SttOptions")}
    assert makers == {REQUEST_MODULE}
    for entry in ENTRY_POINTS:
        path = ROOT / entry
        assert _calls(path, "parse_request") and _calls(path, "options"), entry
    ray = (ROOT / "audio/batch/ray.py").read_text()
    assert "BatchLines(" in ray and "transcribe_item(" in ray  # the actors run the same two
