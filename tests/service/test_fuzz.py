"""Schemathesis over the OpenAPI schema of every route, against the live server.

Every operation gets generated requests, valid and invalid by its schema (the multipart
forms included, which `audio/api/openapi.py` describes): no 5xx, every status, content
type and JSON body as the schema documents it, and inputs the schema forbids refused.
`make fuzz` runs the same command with many more examples.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,negative_data_rejection"
)


def schemathesis_command(url: str, examples: int, report: Path) -> list[str]:
    """The run `make fuzz` does too (see the Makefile), with `examples` per operation."""
    return [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
        "--checks", CHECKS, "--max-examples", str(examples), "--seed", "1",
        "--request-timeout", "60", "--generation-database", "none",
        "--report", "junit", "--report-junit-path", str(report),
    ]  # fmt: skip


def test_every_route_keeps_its_schema(server: str, tmp_path: Path) -> None:
    examples = int(os.environ.get("SPEECH_FUZZ_EXAMPLES", "20"))
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        schemathesis_command(server, examples, report),
        capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert report.read_text().count("<testcase") >= 15  # every operation was exercised
