"""The Airflow image's entrypoint: `airflow ARGS` with no shell, plus its optional start-up steps."""

import json
import os
import subprocess
from pathlib import Path

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


def test_migrate_and_admin_login_before_the_command(tmp_path: Path) -> None:
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
    assert result.returncode == 0, result.stderr[-3000:]
    assert "airflow-entrypoint: airflow db migrate" in result.stderr
    assert (tmp_path / "airflow.db").stat().st_size > 100_000  # the migrated metadata schema
    assert result.stdout.strip().splitlines()[-1] == "ops:admin"
    passwords = tmp_path / "home" / "simple_auth_manager_passwords.json"
    assert json.loads(passwords.read_text()) == {"ops": "s3cret"}
    assert oct(passwords.stat().st_mode & 0o777) == "0o600"
