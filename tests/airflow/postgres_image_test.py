"""//airflow/postgres:image, run with no daemon (umoci + runc) as uid 65532 on a host directory
as its volume: the first start makes the cluster, a restart keeps it, and bad input fails clearly."""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.support.network import free_port, is_listening, wait_for
from tests.support.oci_runtime import Container

IMAGE = Path(os.environ["POSTGRES_IMAGE"])
NONROOT = 65532
SETTINGS = {
    "POSTGRES_USER": "airflow",
    "POSTGRES_PASSWORD": "s3cret pass",
    "POSTGRES_DB": "metadata",
    "POSTGRES_EXTRA_DATABASES": "mlflow, metadata",
}


def empty_volume(tmp_path: Path) -> Path:
    volume = tmp_path / "volume"
    volume.mkdir(mode=0o700)
    os.chown(volume, NONROOT, NONROOT)
    return volume


class Server:
    def __init__(self, workdir: Path, volume: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(exist_ok=True)
        args = ["/usr/bin/python3.13", "/app/postgres", "-p", str(self.port), "-c", "listen_addresses=127.0.0.1"]
        self.container = Container(IMAGE, workdir, args=args, env=env, volumes={"/var/lib/postgresql/data": volume})
        self.log = workdir / f"{self.container.name}.log"

    def start(self) -> None:
        self.container.start(self.log)
        wait_for(lambda: self.accepting() or not self.container.alive(), timeout=120)
        assert self.container.alive(), self.log.read_text()

    def accepting(self) -> bool:
        """PostgreSQL listens before its startup is done, and until then refuses every connection
        with "the database system is starting up" (seen on a loaded machine)."""
        if not is_listening(self.port):
            return False
        try:
            self.query("SELECT 1")
        except psycopg2.OperationalError as error:
            if "starting up" in str(error):
                return False
            raise
        return True

    def query(
        self, sql: str, password: str = SETTINGS["POSTGRES_PASSWORD"], database: str = "metadata"
    ) -> tuple | None:
        """Runs `sql` in its own connection, closed again: PostgreSQL's SIGTERM waits for clients."""
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="airflow", password=password, dbname=database
        )
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchone() if cursor.description else None
        finally:
            connection.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, empty_volume(tmp_path), SETTINGS)
    server.start()
    yield server
    server.container.stop()


def test_first_start_creates_the_user_and_database(server: Server) -> None:
    user, database, version = server.query("SELECT current_user, current_database(), version()")
    assert (user, database) == ("airflow", "metadata")
    assert version.startswith("PostgreSQL 17.")
    assert server.query("SELECT current_database()", database="mlflow") == ("mlflow",)


def test_a_wrong_password_is_refused(server: Server) -> None:
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        server.query("SELECT 1", password="wrong")


def test_the_health_check_command_answers(server: Server, tmp_path: Path) -> None:
    probe = Container(
        IMAGE,
        tmp_path,
        args=[
            "/usr/lib/postgresql/17/bin/pg_isready",
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            "airflow",
            "-d",
            "metadata",
        ],
    )
    result = probe.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "accepting connections" in result.stdout


def test_a_restart_keeps_the_data_and_needs_no_password_setting(tmp_path: Path) -> None:
    volume = empty_volume(tmp_path)
    first = Server(tmp_path / "first", volume, SETTINGS)
    first.start()
    first.query("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
    assert first.container.stop() == 0, first.log.read_text()
    second = Server(tmp_path / "second", volume, {"POSTGRES_USER": "airflow"})
    second.start()
    try:
        assert second.query("SELECT n FROM kept") == (42,)
    finally:
        second.container.stop()
    assert volume.stat().st_uid == NONROOT


@pytest.mark.parametrize(
    "env, stray_file, expected",
    [
        ({"POSTGRES_USER": "airflow"}, False, "set POSTGRES_PASSWORD"),
        ({"POSTGRES_USER": "airflow", "POSTGRES_PASSWORD": " "}, False, "set POSTGRES_PASSWORD"),
        ({**SETTINGS, "POSTGRES_PASSWORD": "change-me"}, False, "POSTGRES_PASSWORD is still the placeholder"),
        (SETTINGS, True, "neither empty nor a PostgreSQL cluster"),
    ],
)
def test_bad_settings_fail_in_one_line_and_leave_the_volume_alone(
    tmp_path: Path, env: dict[str, str], stray_file: bool, expected: str
) -> None:
    volume = empty_volume(tmp_path)
    if stray_file:
        (volume / "notes.txt").write_text("not a cluster")
    before = sorted(path.name for path in volume.iterdir())
    result = Container(IMAGE, tmp_path, env=env, volumes={"/var/lib/postgresql/data": volume}).run()
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert sorted(path.name for path in volume.iterdir()) == before


def test_scanners_see_every_postgres_package_and_the_jit_is_left_out(tmp_path: Path) -> None:
    rootfs = Container(IMAGE, tmp_path).rootfs
    lock = json.loads(Path(os.environ["DEBIAN_LOCK"]).read_text())
    for entry in lock["groups"]["postgres"]:
        assert (rootfs / "var/lib/dpkg/status.d" / entry["name"]).is_file(), entry["name"]
    assert not list((rootfs / "usr/lib/postgresql/17/lib").glob("llvmjit*"))
    assert (rootfs / "usr/lib/postgresql/17/bin/postgres").is_file()
