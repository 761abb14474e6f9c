"""//airflow:image, run with no daemon (umoci + runc) as uid 65532 against the test's PostgreSQL."""

import os
from pathlib import Path

import pytest

from tests.support.oci_runtime import Container
from tests.support.postgres import postgres

IMAGE = Path(os.environ["AIRFLOW_IMAGE"])


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory):
    with postgres(tmp_path_factory.mktemp("db")) as url:
        yield url


def airflow(tmp_path: Path, database: str, *args: str) -> str:
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database, "AIRFLOW_HOME": "/tmp/airflow"}
    result = Container(
        IMAGE, tmp_path, args=["/usr/bin/python3.13", "/app/airflow", *args], env=env, read_only=True
    ).run(timeout=600)
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def test_airflow_version(tmp_path: Path) -> None:
    result = Container(IMAGE, tmp_path, args=["/usr/bin/python3.13", "/app/airflow", "version"], read_only=True).run()
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "3.3.2"


def test_db_migrate_then_the_dag_is_listed(tmp_path: Path, database: str) -> None:
    airflow(tmp_path, database, "db", "migrate")
    airflow(tmp_path, database, "dags", "reserialize")
    listing = airflow(tmp_path, database, "dags", "list", "--output", "plain")
    assert "penguins_training" in listing


def test_no_shell_in_the_image(tmp_path: Path) -> None:
    rootfs = Container(IMAGE, tmp_path, read_only=True).rootfs
    assert not (rootfs / "usr/bin/sh").exists() and not (rootfs / "usr/bin/bash").exists()
    assert (rootfs / "opt/airflow").stat().st_uid == 65532
