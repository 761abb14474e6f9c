"""airflow/docker-compose.yaml brought up for real, the way tools/compose does it on a machine with
no container engine: the build root's podman with bridge networking, docker-compose, both images
loaded from their image_load tarballs into a store of the test's own.

Checks the api-server's health endpoint until every Airflow component reports healthy, the
pipeline's DAG through the REST API with the admin login from the env file, and a teardown that
leaves no port forwarding behind on the host.
"""

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.compose_stack import ComposeStack, compose_stack
from tests.support.network import get_json, post_json, wait_for

ADMIN = {"username": "admin", "password": "compose-test-" + uuid.uuid4().hex[:8]}


def port_forwarding_rules(port: int) -> list[str]:
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    return [line for line in ruleset.splitlines() if f"dport {port} " in line]


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    settings = {
        "AIRFLOW_ADMIN_PASSWORD": ADMIN["password"],
        "AIRFLOW_JWT_SECRET": uuid.uuid4().hex * 2,
        "POSTGRES_PASSWORD": uuid.uuid4().hex,
    }
    with compose_stack(
        Path(os.environ["TEST_TMPDIR"]) / "compose",
        Path(os.environ["COMPOSE_SESSION"]),
        Path(os.environ["COMPOSE"]),
        Path(os.environ["ENV_EXAMPLE"]),
        [Path(path) for path in os.environ["IMAGE_TARBALLS"].split()],
        settings,
    ) as running:
        yield running
    assert running.exit_code == 0, running.log.read_text()[-4000:]
    assert port_forwarding_rules(running.port) == [], "docker-compose down left the api-server's port forwarded"


def test_every_airflow_component_reports_healthy(stack: ComposeStack) -> None:
    def all_healthy() -> dict | None:
        health = get_json(f"{stack.url}/api/v2/monitor/health")
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return health if all(health[part]["status"] == "healthy" for part in parts) else None

    health = wait_for(all_healthy, timeout=300, interval=5)
    assert health["scheduler"]["latest_scheduler_heartbeat"]


def test_the_port_is_published_on_loopback_only(stack: ComposeStack) -> None:
    rules = port_forwarding_rules(stack.port)
    assert rules and all("127.0.0.1" in rule for rule in rules), rules


def test_the_pipeline_dag_is_served_through_the_rest_api(stack: ComposeStack) -> None:
    token = post_json(f"{stack.url}/auth/token", ADMIN)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def dag_ids() -> set[str]:
        return {dag["dag_id"] for dag in get_json(f"{stack.url}/api/v2/dags", headers)["dags"]}

    # wait_for fails the test if the DAG is not listed in time.
    wait_for(lambda: "penguins_training" in dag_ids(), timeout=300, interval=5)
