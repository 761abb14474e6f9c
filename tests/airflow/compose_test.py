"""airflow/docker-compose.yaml: the services, health checks and image tags it promises.

compose_up_test brings the stack up for real; this checks the file's promises without running it.
"""

import json
import os
import re
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
    for name in set(services) - {"airflow-init"}:
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD", f"{name}: the images have no shell for CMD-SHELL"
        # podman's Docker API (docker-compose on podman) splits CMD arguments on spaces.
        assert not any(" " in argument for argument in test), name
    assert services["api-server"]["depends_on"] == {"airflow-init": {"condition": "service_completed_successfully"}}
    assert services["airflow-init"]["command"] == ["db", "migrate"]
    for name in ("scheduler", "dag-processor", "triggerer"):
        assert services[name]["depends_on"] == {"api-server": {"condition": "service_healthy"}}


def test_processes_stay_small_and_private(compose: dict) -> None:
    services = compose["services"]
    assert "--skip-serve-logs" in services["scheduler"]["command"]
    assert all(port.startswith("127.0.0.1:") for port in services["api-server"]["ports"])
    assert int(services["scheduler"]["environment"]["AIRFLOW__CORE__PARALLELISM"]) <= 4


def test_every_variable_the_file_uses_is_in_the_env_example() -> None:
    used = set(re.findall(r"\$\{(\w+)(?::?-[^}]*)?\}", COMPOSE.read_text()))
    example = {
        line.split("=")[0] for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and not line.startswith("#")
    }
    assert used <= example, used - example
