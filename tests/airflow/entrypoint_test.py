"""The Airflow image's entrypoint: `airflow ARGS` with no shell, plus its optional start-up steps."""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

AIRFLOW = Path(os.environ["AIRFLOW"])


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ["PATH"],
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        **env,
    }
    return subprocess.run([str(AIRFLOW), *args], env=environment, capture_output=True, text=True, timeout=600)


def test_no_command_is_one_clear_line(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "airflow-entrypoint: error: name an airflow command, e.g. api-server, scheduler or dag-processor"
    )


def test_half_an_admin_login_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path, "version", AIRFLOW_ADMIN_USERNAME="admin")
    assert result.returncode == 1
    assert "set both AIRFLOW_ADMIN_USERNAME and AIRFLOW_ADMIN_PASSWORD, or neither" in result.stderr


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """A folder whose SQLite metadata database the entrypoint migrated (AIRFLOW_DB_MIGRATE) before
    a command, with an admin login; once for the module, as a migration takes seconds of CPU."""
    tmp_path = tmp_path_factory.mktemp("migrated")
    result = run(
        tmp_path,
        "config",
        "get-value",
        "core",
        "simple_auth_manager_users",
        AIRFLOW_DB_MIGRATE="true",
        AIRFLOW_ADMIN_USERNAME="ops",
        AIRFLOW_ADMIN_PASSWORD="s3cret",
    )
    return tmp_path, result


def test_migrate_and_admin_login_before_the_command(migrated: tuple[Path, subprocess.CompletedProcess]) -> None:
    tmp_path, result = migrated
    assert result.returncode == 0, result.stderr[-3000:]
    assert "airflow-entrypoint: airflow db migrate" in result.stderr
    assert (tmp_path / "airflow.db").stat().st_size > 100_000  # the migrated metadata schema
    assert result.stdout.strip().splitlines()[-1] == "ops:admin"
    passwords = tmp_path / "home" / "simple_auth_manager_passwords.json"
    assert json.loads(passwords.read_text()) == {"ops": "s3cret"}
    assert oct(passwords.stat().st_mode & 0o777) == "0o600"


FERNET_KEY = "a" * 43 + "="  # 32 bytes, URL-safe base64


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        (
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "change-me-to-a-long-random-string",
            "set AIRFLOW_JWT_SECRET in airflow/.env",
        ),
        ("AIRFLOW_DB_PASSWORD", "change-me", "set POSTGRES_PASSWORD in airflow/.env"),
        ("AWS_SECRET_ACCESS_KEY", " ", "AWS_SECRET_ACCESS_KEY is empty"),
        ("AIRFLOW__CORE__FERNET_KEY", "change-me-to-a-fernet-key", "still the placeholder"),
        ("AIRFLOW__CORE__FERNET_KEY", "not-a-key", "is not a Fernet key; set AIRFLOW_FERNET_KEY"),
    ],
)
def test_a_placeholder_or_blank_secret_stops_it_in_one_line(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    result = run(tmp_path, "version", **{variable: value})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("airflow-entrypoint: error: ") and expected in lines[0], (
        result.stderr
    )
    assert value.strip() == "" or value not in result.stderr  # the value itself is never echoed


def test_the_database_url_is_built_with_the_password_encoded(tmp_path: Path) -> None:
    password = "p@ss:w/rd%?&="
    result = run(
        tmp_path,
        "config",
        "get-value",
        "database",
        "sql_alchemy_conn",
        AIRFLOW_DB_HOST="db.internal",
        AIRFLOW_DB_USER="airflow",
        AIRFLOW_DB_PASSWORD=password,
        AIRFLOW_DB_NAME="meta data",
        AIRFLOW__CORE__FERNET_KEY=FERNET_KEY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    url = result.stdout.strip().splitlines()[-1]
    assert url == "postgresql+psycopg2://airflow:p%40ss%3Aw%2Frd%25%3F%26%3D@db.internal:5432/meta%20data"
    assert unquote(urlsplit(url).password or "") == password


def test_the_broker_url_is_built_with_the_password_encoded(tmp_path: Path) -> None:
    password = "r@dis:/%?&="
    result = run(
        tmp_path,
        "config",
        "get-value",
        "celery",
        "broker_url",
        AIRFLOW_REDIS_HOST="redis",
        AIRFLOW_REDIS_PASSWORD=password,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    url = result.stdout.strip().splitlines()[-1]
    assert url == "redis://:r%40dis%3A%2F%25%3F%26%3D@redis:6379/0"
    assert unquote(urlsplit(url).password or "") == password


def test_a_broker_host_without_its_password_is_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "version", AIRFLOW_REDIS_HOST="redis")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "airflow-entrypoint: error: AIRFLOW_REDIS_HOST is set, but AIRFLOW_REDIS_PASSWORD is not; "
        "set REDIS_PASSWORD in airflow/.env"
    )


def test_on_local_executor_the_celery_worker_idles_healthy_until_stopped(tmp_path: Path) -> None:
    # The compose file's worker service on a laptop: AIRFLOW_EXECUTOR=LocalExecutor alone. It must
    # stay up and pass its health check: `up --wait` fails on a service that exits, even with 0.
    local = {
        "PATH": os.environ["PATH"],
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    }
    worker = subprocess.Popen([str(AIRFLOW), "celery", "worker"], env=local, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stderr is not None
        line = worker.stderr.readline().strip()
        assert (
            line
            == "airflow-entrypoint: AIRFLOW__CORE__EXECUTOR is not CeleryExecutor, so this worker idles until stopped"
        )
        assert worker.poll() is None
        check = subprocess.run([str(AIRFLOW), "check-celery-worker"], env=local, capture_output=True, timeout=120)
        assert check.returncode == 0, check.stderr
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        worker.kill()


def test_a_worker_check_whose_broker_does_not_answer_is_one_line(tmp_path: Path) -> None:
    # The answering worker is compose_up_test's: `up --wait` needs both workers' checks to pass.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    celery = {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW_REDIS_HOST": "127.0.0.1"}
    result = run(
        tmp_path, "check-celery-worker", **celery, AIRFLOW_REDIS_PORT=str(port), AIRFLOW_REDIS_PASSWORD="s3cret"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("airflow-entrypoint: check-celery-worker: the broker did not answer ("), (
        result.stderr
    )
    assert result.stderr.count("\n") == 1 and "s3cret" not in result.stderr, result.stderr


# (job type, state, seconds since its heartbeat, on this host) -> whether check-job passes. The
# threshold is 30 s; the ages keep clear of it, since the check runs a moment after the insert.
JOB_CASES = [
    (("DagProcessorJob", "running", 2, True), True),
    (("TriggererJob", "running", 10, True), True),
    (("TriggererJob", "running", 90, True), False),  # its heartbeat is too old
    (("TriggererJob", "success", 2, True), False),  # it has stopped
    (("TriggererJob", "running", 2, False), False),  # another host's
    (("SchedulerJob", "running", 2, True), False),  # another kind of job
]


def clear_jobs(database: Path) -> None:
    with closing(sqlite3.connect(database)) as db, db:
        db.execute("DELETE FROM job")


@pytest.fixture(scope="module")
def airflow_host(migrated: tuple[Path, subprocess.CompletedProcess]) -> str:
    """The host name check-job looks for (Airflow's), read from the one line each job type fails
    with when there is no job at all."""
    tmp_path, _ = migrated
    clear_jobs(tmp_path / "airflow.db")
    hosts = set()
    for job_type in ("DagProcessorJob", "TriggererJob"):
        empty = run(tmp_path, "check-job", job_type)
        assert empty.returncode == 1
        [line] = empty.stderr.splitlines()
        host = re.fullmatch(rf"airflow-entrypoint: check-job: no running {job_type} on (\S+) heartbeated in 30 s", line)
        assert host, line
        hosts.add(host[1])
    [host] = hosts
    return host


@pytest.mark.parametrize("job, alive", JOB_CASES)
def test_check_job_passes_only_for_this_hosts_running_job_with_a_recent_heartbeat(
    migrated: tuple[Path, subprocess.CompletedProcess], airflow_host: str, job: tuple[str, str, int, bool], alive: bool
) -> None:
    tmp_path, _ = migrated
    job_type, state, age, here = job
    database = tmp_path / "airflow.db"
    clear_jobs(database)
    heartbeat = (datetime.now(UTC) - timedelta(seconds=age)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with closing(sqlite3.connect(database)) as db, db:
        db.execute(
            "INSERT INTO job (job_type, state, hostname, start_date, latest_heartbeat) VALUES (?, ?, ?, ?, ?)",
            (job_type, state, airflow_host if here else "elsewhere", heartbeat, heartbeat),
        )
    checked = run(tmp_path, "check-job", "TriggererJob" if job_type == "SchedulerJob" else job_type)
    assert (checked.returncode == 0) == alive, checked.stderr


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["WorkerJob"], {}, "error: check-job takes one of DagProcessorJob, TriggererJob, not 'WorkerJob'"),
        (
            ["TriggererJob"],
            {"AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "soon"},
            "error: AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD must be a number of seconds, not 'soon'",
        ),
        (["TriggererJob"], {}, "check-job: querying the metadata database failed (OperationalError)"),  # no tables
    ],
)
def test_check_job_refuses_bad_input_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = run(tmp_path, "check-job", *args, **env)
    assert result.returncode == 1
    assert result.stderr == f"airflow-entrypoint: {message}\n"
