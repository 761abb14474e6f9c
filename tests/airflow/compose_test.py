"""airflow/docker-compose.yaml: the services, health checks and image tag it promises.

Bringing the stack up needs a container engine with networking, which tests in the build root do
not have (podman does not run under Bazel's sandbox here); README.md says how to run it by hand.
"""

import json
import os
import tarfile
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(os.environ["COMPOSE"])
ENV_EXAMPLE = Path(os.environ["ENV_EXAMPLE"])
AIRFLOW_SERVICES = {"airflow-init", "api-server", "scheduler", "dag-processor", "triggerer"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_services(compose: dict) -> None:
    assert set(compose["services"]) == AIRFLOW_SERVICES | {"postgres"}


def test_every_airflow_service_runs_the_tag_image_load_produces(compose: dict) -> None:
    with tarfile.open(os.environ["AIRFLOW_TARBALL"]) as tarball:
        [manifest] = json.load(tarball.extractfile("manifest.json"))
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        assert service["image"] in manifest["RepoTags"], name
        assert service.get("pull_policy") == "never", name
        assert isinstance(service["command"], list), f"{name}: no shell in the image, so commands are lists"


def test_long_running_services_have_health_checks_and_order(compose: dict) -> None:
    services = compose["services"]
    for name in set(services) - {"airflow-init"}:
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert services["api-server"]["depends_on"] == {"airflow-init": {"condition": "service_completed_successfully"}}
    assert services["airflow-init"]["command"] == ["db", "migrate"]
    for name in ("scheduler", "dag-processor", "triggerer"):
        assert services[name]["depends_on"] == {"api-server": {"condition": "service_healthy"}}


def test_processes_stay_small_and_private(compose: dict) -> None:
    services = compose["services"]
    assert "--skip-serve-logs" in services["scheduler"]["command"]
    assert services["api-server"]["ports"] == ["127.0.0.1:8080:8080"]
    assert int(services["scheduler"]["environment"]["AIRFLOW__CORE__PARALLELISM"]) <= 4


def test_every_variable_the_file_uses_is_in_the_env_example() -> None:
    import re

    used = set(re.findall(r"\$\{(\w+)\}", COMPOSE.read_text()))
    example = {line.split("=")[0] for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and not line.startswith("#")}
    assert used <= example, used - example
