"""Batches and folders on a real Ray head bound to 127.0.0.1, against the local executor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.batch import generated_archive
from bench.server import free_port
from bench.stt import server_process

from ..helpers import SAMPLES, run_cli

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="ray (the `ray` extra)")

FILES = 200
ENDPOINT = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ray start --head` on loopback, stopped afterwards."""
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    started = subprocess.run(
        [ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    if started.returncode != 0:
        pytest.fail(f"ray start failed: {started.stderr[-2000:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 generated files (the batch bench's archive)."""
    root = tmp_path_factory.mktemp("archive")
    generated_archive(root, FILES)
    return root


def _texts(path: Path) -> dict[str, str]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert all("error" not in r for r in records), records[:3]
    return {str(r["id"]): str(r["text"]) for r in records}


def test_cli_on_ray_matches_the_local_run(ray_head: str, archive: Path, tmp_path: Path) -> None:
    local, clustered = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    run = run_cli("batch", str(archive), "--out", str(local), timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    run = run_cli("batch", str(archive), "--out", str(clustered), "--ray", ray_head,
                  timeout=900)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "actors" in run.stderr
    ours, theirs = _texts(local), _texts(clustered)
    assert len(ours) == FILES and ours == theirs


def _batch(base: str, lines: list[str]) -> dict[str, str]:
    client = httpx.Client(base_url=base, timeout=120)
    upload = {"file": ("in.jsonl", "\n".join(lines).encode())}
    source = client.post("/v1/files", data={"purpose": "batch"}, files=upload).json()
    batch = client.post("/v1/batches", json={"input_file_id": source["id"],
                                             "endpoint": ENDPOINT}).json()  # fmt: skip
    deadline = time.monotonic() + 600
    while (state := client.get(f"/v1/batches/{batch['id']}").json())["status"] != "completed":
        assert time.monotonic() < deadline and state["status"] not in ("failed", "cancelled")
        time.sleep(0.5)
    content = client.get(f"/v1/files/{state['output_file_id']}/content").text
    records = [json.loads(line) for line in content.splitlines()]
    return {r["custom_id"]: r["response"]["body"]["text"] for r in records}


def test_server_batch_on_ray_matches_the_local_runner(ray_head: str, tmp_path: Path) -> None:
    lines = [
        json.dumps({"custom_id": f"r{i}", "method": "POST", "url": ENDPOINT,
                    "body": {"model": "whisper-1", "url": (SAMPLES / name).as_uri()}})
        for i, name in enumerate(["hello_en.wav", "weather_en.mp3", "speech_de.mp3"] * 4)
    ]  # fmt: skip
    results = []
    for ray_address in (None, ray_head):
        env = {
            "SPEECH_BATCH__DATA_DIR": str(tmp_path / f"data-{bool(ray_address)}"),
            "SPEECH_BATCH__ALLOWED_ROOTS": json.dumps([str(SAMPLES)]),
            "SPEECH_STT__FALLBACK_MODEL": "whisper-base", "SPEECH_WARMUP": "false",
            "SPEECH_LOG_LEVEL": "warning",
        }  # fmt: skip
        if ray_address:
            env["SPEECH_BATCH__RAY_ADDRESS"] = ray_address
        with server_process(env) as (url, _process):
            results.append(_batch(url, lines))
    assert len(results[0]) == len(lines) and results[0] == results[1]


def test_an_actor_is_sized_to_the_one_cpu_it_holds(make_settings) -> None:  # type: ignore[no-untyped-def]
    """Actors on one node each hold one CPU: one decoder of one thread, no all-core
    replica (each would take every core for its encoder), no lower-priority copies."""
    from audio.batch.ray import _Worker
    from audio.wiring import worker_stack

    settings = make_settings(stt={"decoders": 4, "solo_threads": 2, "background_nice": 10})
    worker = _Worker(settings.model_dump_json(), worker_stack)
    stack = worker.stack
    try:
        load = stack.settings.stt.registry_config().load
        assert (load.num_workers, load.solo_threads, load.background_nice) == (1, 1, 0)
        assert stack.stt.settings is stack.settings
    finally:
        stack.services.close()
        stack.store.close()
