"""airflow/docker-compose.yaml: the services, health checks and image tags it promises.

compose_up_test brings the stack up for real; this checks the file's promises without running it.
"""

import json
import os
import re
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from tests.support.compose_stack import env_settings
from tools.containers.compose_session import Schedule

COMPOSE = Path(os.environ["COMPOSE"])
ENV_EXAMPLE = Path(os.environ["ENV_EXAMPLE"])
AIRFLOW_SERVICES = {"airflow-init", "api-server", "scheduler", "dag-processor", "triggerer", "airflow-worker"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_services(compose: dict) -> None:
    assert set(compose["services"]) == AIRFLOW_SERVICES | {"postgres", "redis", "s3", "mlflow", "prediction-server"}


def test_every_service_runs_a_tag_an_image_load_produces(compose: dict) -> None:
    tags = set()
    for tarball in os.environ["IMAGE_TARBALLS"].split():
        with tarfile.open(tarball) as archive:
            [manifest] = json.load(archive.extractfile("manifest.json"))
        tags.update(manifest["RepoTags"])
    for name, service in compose["services"].items():
        assert service["image"] in tags, name
        assert service.get("pull_policy") == "never", name
        if name in AIRFLOW_SERVICES:
            assert isinstance(service["command"], list), f"{name}: no shell in the image, so commands are lists"


def test_long_running_services_have_health_checks_and_order(compose: dict) -> None:
    services = compose["services"]
    # The S3 image holds weed alone: no program to probe it with, so dependents wait for its start.
    for name in set(services) - {"airflow-init", "s3"}:
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD", f"{name}: the images have no shell for CMD-SHELL"
        # podman's Docker API (docker-compose on podman) splits CMD arguments on spaces.
        assert not any(" " in argument for argument in test), name
    assert services["api-server"]["depends_on"] == {"airflow-init": {"condition": "service_completed_successfully"}}
    assert services["airflow-init"]["command"] == ["db", "migrate"]
    for name in ("dag-processor", "triggerer"):
        assert services[name]["depends_on"] == {"api-server": {"condition": "service_healthy"}}
    for name in ("scheduler", "airflow-worker"):
        assert services[name]["depends_on"] == {
            "api-server": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }


def test_processes_stay_small_and_private(compose: dict) -> None:
    services = compose["services"]
    assert "--skip-serve-logs" in services["scheduler"]["command"]
    assert services["airflow-worker"]["command"] == ["celery", "worker", "--skip-serve-logs"]
    for name, service in services.items():
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), name
    assert int(services["scheduler"]["environment"]["AIRFLOW__CORE__PARALLELISM"]) <= 4


INTERPOLATION = re.compile(r"\$\{(\w+)(:?[-?][^}]*)?\}")
# The only variables with a default; every other one must be set (`${VAR:?message}`).
OPTIONAL = {
    "AIRFLOW_API_PORT",
    "S3_PORT",
    "MLFLOW_PORT",
    "SERVER_PORT",
    "MODEL_POLL_SECONDS",
    "AWS_DEFAULT_REGION",
    "AIRFLOW_EXECUTOR",
    "AIRFLOW_WORKERS",
    "AIRFLOW_WORKER_CONCURRENCY",
    "AIRFLOW_TASK_HEARTBEAT_TIMEOUT",
    "AIRFLOW_TASK_RETRY_DELAY",
}


def example_settings() -> dict[str, str]:
    return env_settings(ENV_EXAMPLE.read_text())


def test_every_variable_the_file_uses_is_in_the_env_example() -> None:
    used = {name for name, _ in INTERPOLATION.findall(COMPOSE.read_text())}
    assert used <= set(example_settings()), used - set(example_settings())


def test_every_variable_without_a_default_is_required_with_a_message() -> None:
    for name, modifier in INTERPOLATION.findall(COMPOSE.read_text()):
        if name not in OPTIONAL:
            assert modifier.startswith(":?"), f"${{{name}}} must be ${{{name}:?...}}"


def test_each_service_gets_only_the_secrets_it_needs(compose: dict) -> None:
    services = compose["services"]
    assert not any("env_file" in service for service in services.values())

    def holders(variable: str) -> set[str]:
        return {name for name, service in services.items() if variable in service.get("environment", {})}

    # S3's own identity, and its clients: the Celery workers run the tasks, or, on LocalExecutor,
    # the scheduler does; the broker's password goes to those two alone.
    runners = {"scheduler", "airflow-worker"}
    assert holders("AWS_SECRET_ACCESS_KEY") == {"s3", "mlflow", "prediction-server"} | runners
    assert holders("AIRFLOW_REDIS_PASSWORD") == runners
    assert holders("REDIS_PASSWORD") == {"redis"}
    assert holders("AIRFLOW_ADMIN_PASSWORD") == {"api-server"}
    assert holders("AIRFLOW__CORE__FERNET_KEY") == AIRFLOW_SERVICES
    assert holders("AIRFLOW_DB_PASSWORD") == AIRFLOW_SERVICES
    assert holders("MLFLOW_DB_PASSWORD") == {"mlflow"}
    assert set(services["postgres"]["environment"]) == {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "POSTGRES_EXTRA_DATABASES",
    }


@pytest.mark.parametrize(
    "missing", ["AIRFLOW_FERNET_KEY", "POSTGRES_PASSWORD", "AWS_SECRET_ACCESS_KEY", "REDIS_PASSWORD"]
)
def test_a_missing_required_variable_stops_compose_with_its_message(tmp_path: Path, missing: str) -> None:
    settings = {name: value for name, value in example_settings().items() if name != missing}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "--env-file", str(env_file), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert result.returncode != 0
    assert f"set {missing} in airflow/.env" in result.stderr, result.stderr


def test_the_session_checks_a_starting_service_every_start_interval_until_it_first_passes() -> None:
    # Docker's schedule, which tools/compose's session runs in place of podman's systemd timers.
    starting = Schedule(interval=30, start_interval=5, start_period_ends=time.monotonic() + 60)
    assert starting.next_in(passed_once=False) == 5
    assert starting.next_in(passed_once=True) == 30
    started = Schedule(interval=30, start_interval=5, start_period_ends=time.monotonic() - 1)
    assert started.next_in(passed_once=False) == 30
