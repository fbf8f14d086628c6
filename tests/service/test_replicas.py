"""Two replicas, one deployment: two `serve` processes sharing a real PostgreSQL, a real
Redis and one files directory on loopback. A batch belongs to the deployment, not to the
replica that took it; a replica's death loses nothing and repeats nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import psycopg
import pytest

from bench.postgres import create_database
from bench.server import free_port
from bench.stt import server_process

from ..helpers import SAMPLES, wait_until

pytestmark = pytest.mark.slow

ENDPOINT = "/v1/audio/transcriptions"
KEYS = {"team-a": "key-of-a", "team-b": "key-of-b"}


@pytest.fixture
def deployment(
    postgres_base: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], str]]:
    """The environment both replicas share (less their names and data directories), and
    the database URL."""
    database = create_database(postgres_base, f"replicas_{uuid.uuid4().hex[:12]}")
    keys = tmp_path / "keys.txt"
    keys.write_text("".join(f"{project} {hashlib.sha256(key.encode()).hexdigest()}\n"
                            for project, key in KEYS.items()))  # fmt: skip
    env = {
        "SPEECH_BATCH__DATABASE_URL": database,
        "SPEECH_BATCH__FILES_DIR": str(tmp_path / "shared-files"),
        "SPEECH_BATCH__LEASE_SECONDS": "3",
        "SPEECH_RATE_LIMITS__STORAGE_URI": redis_url,
        "SPEECH_API_KEYS_FILE": str(keys),
        "SPEECH_STT__FALLBACK_MODEL": "whisper-base", "SPEECH_WARMUP": "false",
        "SPEECH_LOG_LEVEL": "warning",
    }  # fmt: skip
    yield env, database


def _replica(env: dict[str, str], name: str, tmp: Path, port: int) -> Any:
    own = {**env, "SPEECH_BATCH__REPLICA": name, "SPEECH_BATCH__DATA_DIR": str(tmp / name)}
    return server_process(own, port, output=tmp / f"{name}.log")


def _client(port: int, project: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEYS[project],
                         max_retries=0)  # fmt: skip


def _lines(prefix: str, n: int) -> bytes:
    data_url = "data:audio/wav;base64," + base64.b64encode(
        (SAMPLES / "hello_en.wav").read_bytes()).decode()  # fmt: skip
    body = [{"custom_id": f"{prefix}{i}", "method": "POST", "url": ENDPOINT,
             "body": {"model": "whisper-large-v3", "url": data_url}} for i in range(n)]  # fmt: skip
    body.append({"custom_id": f"{prefix}bad", "method": "POST", "url": ENDPOINT,
                 "body": {"model": "whisper-large-v3", "url": "file:///nope.wav"}})  # fmt: skip
    return "\n".join(json.dumps(line) for line in body).encode()


def _finished_by(database: str, batch_id: str) -> dict[str | None, int]:
    with psycopg.connect(database) as db:
        rows = db.execute(
            "SELECT replica, count(*) FROM lines WHERE batch_id = %s AND state <> 'pending' "
            "GROUP BY replica", (batch_id,),
        ).fetchall()  # fmt: skip
    return {replica: count for replica, count in rows}


def _records(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.decode().splitlines() if line.strip()]


def test_two_replicas_share_batches_and_survive_a_sigkill(
    deployment: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, database = deployment
    port_a, port_b = free_port(), free_port()
    with _replica(env, "b", tmp_path, port_b):
        with _replica(env, "a", tmp_path, port_a) as (_url, process_a):
            a, b = _client(port_a, "team-a"), _client(port_b, "team-a")
            source = a.files.create(file=("in.jsonl", _lines("k", 24)), purpose="batch")
            batch = a.batches.create(input_file_id=source.id, endpoint=ENDPOINT,
                                     completion_window="24h")  # fmt: skip
            # created on A: B retrieves it, lists it, reads its input file
            assert b.batches.retrieve(batch.id).id == batch.id
            assert batch.id in [x.id for x in b.batches.list()]
            assert b.files.content(source.id).content == _lines("k", 24)
            # tenancy holds across replicas: the other project gets a plain 404 on either
            for port in (port_a, port_b):
                stranger = _client(port, "team-b")
                with pytest.raises(openai.NotFoundError):
                    stranger.batches.retrieve(batch.id)
                with pytest.raises(openai.NotFoundError):
                    stranger.files.content(source.id)
                assert stranger.batches.list().data == []
            # a second batch, created on A, is cancelled on B
            other = a.files.create(file=("other.jsonl", _lines("c", 40)), purpose="batch")
            doomed = a.batches.create(input_file_id=other.id, endpoint=ENDPOINT,
                                      completion_window="24h")  # fmt: skip
            assert b.batches.cancel(doomed.id).status in ("cancelling", "cancelled")
            # both replicas run lines of the first batch; then A dies mid-batch
            wait_until(lambda: {"a", "b"} <= set(_finished_by(database, batch.id)),
                       timeout=180, every=0.1)  # fmt: skip
            assert b.batches.retrieve(batch.id).status == "in_progress"
            process_a.send_signal(signal.SIGKILL)  # no drain, no clean shutdown
            process_a.wait()
        wait_until(lambda: b.batches.retrieve(batch.id).status == "completed", timeout=300,
                   every=0.5)  # fmt: skip
        done = b.batches.retrieve(batch.id)
        assert b.batches.retrieve(doomed.id).status == "cancelled"
        assert done.output_file_id is not None and done.error_file_id is not None
        output = _records(b.files.content(done.output_file_id).content)
        errors = _records(b.files.content(done.error_file_id).content)
        ids = [r["custom_id"] for r in output + errors]
        assert sorted(ids) == sorted([f"k{i}" for i in range(24)] + ["kbad"])  # once each
        assert [r["custom_id"] for r in errors] == ["kbad"]
        assert {r["x_replica"] for r in output} == {"a", "b"}
        assert all(r["response"]["body"]["text"].strip() for r in output)
        assert (done.request_counts.completed, done.request_counts.failed) == (24, 1)
        # A comes back: nothing changes
        with _replica(env, "a", tmp_path, port_a):
            time.sleep(5)  # several runner polls
            again = _client(port_a, "team-a").batches.retrieve(batch.id)
            assert again.model_dump() == done.model_dump()
            listed = [f.id for f in _client(port_a, "team-a").files.list().data]
            assert listed == [f.id for f in b.files.list().data]
            assert {source.id, other.id, done.output_file_id, done.error_file_id} <= set(listed)


def test_a_replica_with_its_own_files_directory_refuses_to_start(
    deployment: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    """Result files are written by whichever replica finalises a batch; one that mounts
    another directory would answer the others' files with 500s, so it does not start."""
    env, _database = deployment
    with _replica(env, "a", tmp_path, free_port()) as (url, _process):
        stray = {**env, "SPEECH_BATCH__FILES_DIR": str(tmp_path / "local-files")}
        with (
            pytest.raises(RuntimeError, match="did not start"),
            _replica(stray, "c", tmp_path, free_port()),
        ):
            pass
        log = (tmp_path / "c.log").read_text()
        assert "SPEECH_BATCH__FILES_DIR" in log and "same files directory" in log
        # the replica that shares the directory keeps serving
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
