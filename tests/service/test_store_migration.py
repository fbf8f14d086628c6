"""A job store written by the release before projects (4fed5b2) opens without loss, and
its files and batches belong to the project the operator names (`anonymous` unless
`SPEECH_BATCH__LEGACY_PROJECT` says otherwise)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import openai
import pytest

from audio.settings import BatchSettings
from jobs.errors import FilesDirNotShared, NotFound
from jobs.store import JobStore

from ..helpers import live_server

PREVIOUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, purpose TEXT NOT NULL, filename TEXT NOT NULL,
    bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, input_file_id TEXT NOT NULL,
    completion_window TEXT NOT NULL, metadata TEXT, status TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, times TEXT NOT NULL,
    output_file_id TEXT, error_file_id TEXT, errors TEXT,
    total INTEGER NOT NULL, completed INTEGER NOT NULL, failed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lines (
    batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT NOT NULL,
    body TEXT NOT NULL, state TEXT NOT NULL, status_code INTEGER, response TEXT,
    request_id TEXT, PRIMARY KEY (batch_id, idx)
);
CREATE INDEX IF NOT EXISTS pending ON lines (batch_id, state, idx);
"""
"""The previous release's `jobs/store.py` SCHEMA, verbatim."""
INPUT, OUTPUT, BATCH = "file-" + "a" * 24, "file-" + "b" * 24, "batch_" + "c" * 24
OUTPUT_LINE = {"id": "batch_req_1", "custom_id": "old-1",
               "response": {"status_code": 200, "body": {"text": "Hello."}}}  # fmt: skip


def write_previous_store(data: Path) -> None:
    """A store as the previous release left it: an input and an output file, a completed
    batch of two lines (one done, one failed) and an in-progress one with a pending line."""
    (data / "files").mkdir(parents=True)
    (data / "files" / INPUT).write_text('{"custom_id": "old-1"}\n')
    (data / "files" / OUTPUT).write_text(json.dumps(OUTPUT_LINE) + "\n")
    db = sqlite3.connect(data / "jobs.sqlite3")
    db.executescript(PREVIOUS_SCHEMA)
    db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)", [
        (INPUT, "batch", "in.jsonl", 23, 1_700_000_000, None),
        (OUTPUT, "batch_output", f"{BATCH}_output.jsonl", 90, 1_700_000_100, None),
    ])  # fmt: skip
    db.executemany(
        "INSERT INTO batches VALUES (?, ?, ?, '24h', ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)", [
            (BATCH, "/v1/audio/transcriptions", INPUT, '{"run": "old"}', "completed",
             1_700_000_001, 1_700_086_401, '{"completed_at": 1700000100}', OUTPUT, 2, 1, 1),
            ("batch_" + "d" * 24, "/v1/audio/transcriptions", INPUT, None, "in_progress",
             1_700_000_002, 4_000_000_000, "{}", None, 1, 0, 0),
        ],
    )  # fmt: skip
    db.executemany("INSERT INTO lines VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        (BATCH, 0, "old-1", "{}", "done", 200, '{"text": "Hello."}', "req_1"),
        (BATCH, 1, "old-2", "{}", "failed", 400, '{"error": {"message": "x"}}', "req_2"),
        ("batch_" + "d" * 24, 0, "old-3", '{"url": "file-x"}', "pending", None, None, None),
    ])  # fmt: skip
    db.commit()
    db.close()


def test_a_previous_store_opens_with_its_rows_in_the_legacy_project(tmp_path: Path) -> None:
    write_previous_store(tmp_path)
    for _ in range(2):  # and opening it again changes nothing
        store = JobStore(tmp_path / "jobs.sqlite3", tmp_path / "files", 0, "archive")
        try:
            assert store.file(INPUT, "archive").filename == "in.jsonl"
            with pytest.raises(NotFound):
                store.file(INPUT, "anonymous")
            batch = store.batch(BATCH, "archive")
            assert (batch.status, batch.metadata, batch.output_file_id) == (
                "completed", {"run": "old"}, OUTPUT,
            )  # fmt: skip
            assert (batch.counts.total, batch.counts.completed, batch.counts.failed) == (2, 1, 1)
            assert [r["custom_id"] for r in store.results(BATCH, ok=False)] == ["old-2"]
            page = store.batches("archive")
            assert [b.id for b in page.data] == ["batch_" + "d" * 24, BATCH]
            assert [line.custom_id for line in store.pending("batch_" + "d" * 24, 5)] == ["old-3"]
            new = store.add_lines_file("archive", "batch", "more.jsonl", ["{}"])
            assert store.files("archive").data[0].id == new.id
        finally:
            store.close()
    version = sqlite3.connect(tmp_path / "jobs.sqlite3").execute(
        "SELECT version_num FROM alembic_version")  # fmt: skip
    assert version.fetchall() == [("0003",)]  # Alembic's head: projects, leases, files dir


def test_a_previous_store_served_to_the_project_the_operator_names(
    make_settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    write_previous_store(tmp_path)
    keys = tmp_path / "keys.txt"
    digest = {k: hashlib.sha256(k.encode()).hexdigest() for k in ("old-team", "new-team")}
    keys.write_text(f"archive {digest['old-team']}\nfresh {digest['new-team']}\n")
    settings = make_settings(
        api_keys_file=keys, batch=BatchSettings(data_dir=tmp_path, legacy_project="archive")
    )
    with live_server(settings) as (url, _app):
        owner = openai.OpenAI(base_url=f"{url}/v1", api_key="old-team", max_retries=0)
        batch = owner.batches.retrieve(BATCH)
        assert batch.status == "completed" and batch.metadata == {"run": "old"}
        content = owner.files.content(OUTPUT).content
        assert json.loads(content)["custom_id"] == "old-1"
        assert {INPUT, OUTPUT} <= {f.id for f in owner.files.list()}
        stranger = openai.OpenAI(base_url=f"{url}/v1", api_key="new-team", max_retries=0)
        with pytest.raises(openai.NotFoundError):
            stranger.batches.retrieve(BATCH)
        assert stranger.files.list().data == []


def test_a_store_opened_on_another_files_directory_is_refused(tmp_path: Path) -> None:
    """The first store to open a database binds its files directory; a second one on the
    same directory opens (a replica), one on another directory is refused, also after
    the first has closed; the store from before projects is bound when it first opens."""
    write_previous_store(tmp_path)
    database = tmp_path / "jobs.sqlite3"
    first = JobStore(database, tmp_path / "files", 0, "archive")
    replica = JobStore(database, tmp_path / "files", 0, "archive")
    assert replica.file(INPUT, "archive").filename == "in.jsonl"
    with pytest.raises(FilesDirNotShared, match="same files directory"):
        JobStore(database, tmp_path / "elsewhere", 0, "archive")
    first.close()
    replica.close()
    with pytest.raises(FilesDirNotShared):
        JobStore(database, tmp_path / "elsewhere", 0, "archive")
    markers = [p.name for p in (tmp_path / "files").glob(".store-*")]
    assert len(markers) == 1  # the second store left no marker of its own


def test_a_file_whose_bytes_are_gone_is_a_clear_500(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_previous_store(tmp_path)
    (tmp_path / "files" / OUTPUT).unlink()  # e.g. a volume restored without it
    settings = make_settings(batch=BatchSettings(data_dir=tmp_path, legacy_project="anonymous"))
    with live_server(settings) as (url, _app):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            client.files.content(OUTPUT)
        error = caught.value.response.json()["error"]
        assert error["code"] == "file_bytes_missing" and error["param"] == "file_id"
        assert OUTPUT in error["message"] and "missing" in error["message"]
        assert client.files.retrieve(OUTPUT).id == OUTPUT  # the metadata is still there
        client.files.delete(OUTPUT)  # and it can be deleted
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(OUTPUT)
