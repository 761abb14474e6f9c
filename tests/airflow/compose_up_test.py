"""airflow/docker-compose.yaml brought up for real, the way tools/compose does it on a machine with
no container engine: the build root's podman with bridge networking, docker-compose, both images
loaded from their image_load tarballs into a store of the test's own.

Checks the api-server's health endpoint until every Airflow component reports healthy, the
pipeline's DAG through the REST API with the admin login from the env file, and a teardown that
leaves no port forwarding behind on the host.
"""

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.network import free_port, get_json, post_json, wait_for

SESSION = Path(os.environ["COMPOSE_SESSION"])
COMPOSE = Path(os.environ["COMPOSE"])
ENV_EXAMPLE = Path(os.environ["ENV_EXAMPLE"])
TARBALLS = [Path(path) for path in os.environ["IMAGE_TARBALLS"].split()]
ADMIN = {"username": "admin", "password": "compose-test-" + uuid.uuid4().hex[:8]}


@dataclass
class Stack:
    url: str
    port: int


def env_file(port: int) -> str:
    settings = {"AIRFLOW_API_PORT": str(port), "AIRFLOW_ADMIN_PASSWORD": ADMIN["password"],
                "AIRFLOW_JWT_SECRET": uuid.uuid4().hex * 2, "POSTGRES_PASSWORD": uuid.uuid4().hex}
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        name = line.split("=")[0]
        lines.append(f"{name}={settings[name]}" if name in settings and not line.startswith("#") else line)
    return "\n".join(lines) + "\n"


def port_forwarding_rules(port: int) -> list[str]:
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    return [line for line in ruleset.splitlines() if f"dport {port} " in line]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # On disk, not in the sandbox's /tmp (a tmpfs): the Airflow image alone is 0.9 GB unpacked.
    work = Path(os.environ["TEST_TMPDIR"]) / "compose"
    work.mkdir()
    (work / "docker-compose.yaml").write_text(COMPOSE.read_text())
    port = free_port()
    (work / ".env").write_text(env_file(port))
    log = work / "session.log"
    command = [sys.executable, str(SESSION), "--storage", str(work / "podman"), "--private-mounts", "--remove-volumes",
               *[argument for tarball in TARBALLS for argument in ("--load", str(tarball))],
               "--", "-f", str(work / "docker-compose.yaml"), "-p", f"compose-test-{uuid.uuid4().hex[:6]}"]
    with open(log, "w") as sink:
        session = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "compose-session: ready" in log.read_text() or session.poll() is not None, timeout=1200, interval=2)
        assert session.poll() is None, log.read_text()[-6000:]
        yield Stack(url=f"http://127.0.0.1:{port}", port=port)
    finally:
        session.send_signal(signal.SIGTERM)
        code = session.wait(timeout=600)
        print(log.read_text()[-6000:])
    assert code == 0, log.read_text()[-4000:]
    assert port_forwarding_rules(port) == [], "docker-compose down left the api-server's port forwarded"


def test_every_airflow_component_reports_healthy(stack: Stack) -> None:
    def all_healthy() -> dict | None:
        health = get_json(f"{stack.url}/api/v2/monitor/health")
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return health if all(health[part]["status"] == "healthy" for part in parts) else None

    health = wait_for(all_healthy, timeout=300, interval=5)
    assert health["scheduler"]["latest_scheduler_heartbeat"]


def test_the_port_is_published_on_loopback_only(stack: Stack) -> None:
    rules = port_forwarding_rules(stack.port)
    assert rules and all("127.0.0.1" in rule for rule in rules), rules


def test_the_pipeline_dag_is_served_through_the_rest_api(stack: Stack) -> None:
    token = post_json(f"{stack.url}/auth/token", ADMIN)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def dag_ids() -> set[str]:
        return {dag["dag_id"] for dag in get_json(f"{stack.url}/api/v2/dags", headers)["dags"]}

    assert "penguins_training" in wait_for(lambda: "penguins_training" in dag_ids() and dag_ids(), timeout=300, interval=5)
