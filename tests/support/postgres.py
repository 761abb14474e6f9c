"""Debian's PostgreSQL 17, started by the test in a temporary directory on 127.0.0.1.

PostgreSQL refuses to run as root, so initdb and the server run as the build root's `postgres`
user (setpriv); that needs the build root's real root user: tag such tests `no-sandbox`.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.network import free_port

BIN = Path("/usr/lib/postgresql/17/bin")


def as_postgres(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", *command], **kwargs)


@contextmanager
def postgres(workdir: Path, database: str = "airflow") -> Iterator[str]:
    """Yields a SQLAlchemy URL (psycopg2) for a fresh database owned by user `airflow`."""
    user = pwd.getpwnam("postgres")
    # pytest's own temporary folders are root's alone (0700): the server gets one it can reach.
    base = Path(tempfile.mkdtemp(prefix="postgres-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    for path in (base, data):
        os.chown(path, user.pw_uid, user.pw_gid)
    port = free_port()
    init = as_postgres(
        [str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stderr
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "postgres.log"
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [
                "setpriv",
                "--reuid=postgres",
                "--regid=postgres",
                "--clear-groups",
                str(BIN / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(base),
                "-c",
                "fsync=off",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        # pg_isready, not an open port: PostgreSQL listens before its startup is done, and until
        # then refuses every connection ("the database system is starting up").
        ready = [str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        deadline = time.monotonic() + 60
        while subprocess.run(ready, check=False).returncode != 0:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        psql = [str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c"]
        as_postgres([*psql, "CREATE USER airflow PASSWORD 'airflow'"], check=True, capture_output=True)
        as_postgres([*psql, f"CREATE DATABASE {database} OWNER airflow"], check=True, capture_output=True)
        yield f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{port}/{database}"
    finally:
        server.send_signal(signal.SIGINT)  # "fast" shutdown: SIGTERM would wait for every client to leave
        server.wait(timeout=60)
        shutil.rmtree(base, ignore_errors=True)
