"""A throwaway PostgreSQL server on loopback (Debian's `postgresql` package), for the
tests and the benches: its own data directory, trust auth, a free port, stopped after.
It never touches an operator's database or the package's own cluster."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.server import free_port

SERVER_USER = "postgres"
"""PostgreSQL refuses to run as root; as root it runs as this user (Debian creates it)."""


def postgres_binaries() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`, or None where PostgreSQL is absent."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def why_not() -> str | None:
    """Why a throwaway server cannot start here (None: it can)."""
    if postgres_binaries() is None:
        return ("PostgreSQL is not installed (make test installs it where it can: Debian's "
                "postgresql package, as root)")  # fmt: skip
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL"
    return None


def _as_server(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield its base URL (`postgresql://postgres@127.0.0.1:PORT`)."""
    binaries = postgres_binaries()
    assert binaries is not None, why_not()
    root = Path(tempfile.mkdtemp(prefix="speech-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
    port = free_port()
    subprocess.run(
        _as_server([str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_server([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                    str(root / "log"), "-w", "-t", "60", "start"]),
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_server([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                   "stop"]), stdout=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def create_database(base: str, name: str) -> str:
    """A new empty database on the server at `base`; its URL."""
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(f"{base}/postgres", autocommit=True) as db:
                db.execute(f'CREATE DATABASE "{name}"')
            return f"{base}/{name}"
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
