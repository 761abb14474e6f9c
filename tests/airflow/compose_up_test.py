"""airflow/docker-compose.yaml brought up for real, the way tools/compose does it on a machine with
no container engine: the build root's podman with bridge networking, docker-compose, every image
loaded from its image_load tarball into a store of the test's own.

On CeleryExecutor: every Airflow component reports healthy, and the whole loop runs on two workers:
the pipeline's DAG triggered through the REST API trains, and the worker training is killed in
the middle of its task: the task is retried on the other worker, and the run goes on to register
its champion in the stack's MLflow and publish to the stack's S3; the prediction server rolls to
that model and predicts what the pipeline's own artifacts predict. (One run for both: a second
run of the whole pipeline cost the test about a minute.) Last, the same stack switched to
LocalExecutor by its env file: the scheduler runs the DAG, and the Celery workers idle. The
teardown must leave no container, volume or network in the store and no port forwarding behind on
the host.
"""

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.model.pointers import MANIFEST, Manifest, object_key
from tests.support.airflow_api import AirflowApi
from tests.support.compose_stack import ComposeStack, compose_stack
from tests.support.mlflow_server import champion
from tests.support.network import get_json, post_json, wait_for
from tests.support.penguin_records import held_out_records, offline_species
from tests.support.s3 import S3

ADMIN = {"username": "admin", "password": "compose-test-" + uuid.uuid4().hex[:8]}


def port_forwarding_rules(port: int) -> list[str]:
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    return [line for line in ruleset.splitlines() if f"dport {port} " in line]


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    """The compose file up, with these settings over the example's: two Celery workers, and a
    killed worker's task failed after 20 s without a heartbeat (four of the 5 s heartbeats a
    running task's supervisor sends, Airflow's [workers] min_heartbeat_interval) and retried 5 s
    later. After `down -v`, nothing of it may be left: no container, volume or network, no
    forwarded port."""
    # Fresh secrets come from compose_stack; the test needs to know the admin's password.
    settings = {
        "AIRFLOW_ADMIN_PASSWORD": ADMIN["password"],
        "MODEL_POLL_SECONDS": "5",
        "AIRFLOW_WORKERS": "2",
        "AIRFLOW_TASK_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW_TASK_RETRY_DELAY": "5",
    }
    workdir = Path(os.environ["TEST_TMPDIR"]) / "compose"
    with compose_stack(
        workdir,
        Path(os.environ["COMPOSE_SESSION"]),
        Path(os.environ["COMPOSE"]),
        Path(os.environ["ENV_EXAMPLE"]),
        [Path(path) for path in os.environ["IMAGE_TARBALLS"].split()],
        settings,
    ) as running:
        yield running
    assert running.exit_code == 0, running.log.read_text()[-4000:]
    assert running.leftovers() == {"containers": 0, "volumes": 0, "networks": 0}
    assert port_forwarding_rules(running.port) == [], "docker-compose down left the api-server's port forwarded"


def workers(stack: ComposeStack) -> dict[str, str]:
    """The Celery workers' hostnames (what Airflow records per task) -> their container ids."""
    ids = stack.containers("airflow-worker")
    return {stack.podman("inspect", "--format", "{{.Config.Hostname}}", each).strip(): each for each in ids}


def test_every_airflow_component_reports_healthy(stack: ComposeStack) -> None:
    def all_healthy() -> dict | None:
        health = get_json(f"{stack.url}/api/v2/monitor/health")
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return health if all(health[part]["status"] == "healthy" for part in parts) else None

    health = wait_for(all_healthy, timeout=300, interval=5)
    assert health["scheduler"]["latest_scheduler_heartbeat"]


def test_the_scheduler_health_server_answers_inside_its_container_only(stack: ComposeStack) -> None:
    probe = "__import__('urllib.request').request.urlopen('http://{}:8974/health',timeout=5)"
    [scheduler] = stack.containers("scheduler")
    stack.podman("exec", scheduler, "/usr/bin/python3.13", "-c", probe.format("127.0.0.1"))  # raises unless 200
    [api_server] = stack.containers("api-server")
    with pytest.raises(subprocess.CalledProcessError) as refused:
        stack.podman("exec", api_server, "/usr/bin/python3.13", "-c", probe.format("scheduler"))
    assert "Connection refused" in refused.value.stderr, refused.value.stderr


def test_the_port_is_published_on_loopback_only(stack: ComposeStack) -> None:
    rules = port_forwarding_rules(stack.port)
    assert rules and all("127.0.0.1" in rule for rule in rules), rules


def test_the_loop_outlives_a_killed_worker_and_the_server_rolls_to_its_model(
    stack: ComposeStack, tmp_path: Path
) -> None:
    # Through the REST API with the admin login from the env file, as a user would.
    api = AirflowApi(stack.url, **ADMIN)
    hostnames = workers(stack)
    assert len(hostnames) == 2
    run_id = api.trigger("penguins_training")
    train = f"dags/penguins_training/dagRuns/{run_id}/taskInstances/train"

    def training() -> dict | None:
        task = api.get(train)
        return task if task["state"] == "running" and task["hostname"] in hostnames else None

    # The worker training is killed mid-task: its try fails once its heartbeat times out, and the
    # retry runs on the other worker. So both workers ran the pipeline's tasks.
    killed = wait_for(training, timeout=600, interval=0.5)["hostname"]
    stack.podman("kill", "--signal", "KILL", hostnames[killed])
    run, tasks = api.wait_for_run("penguins_training", run_id)
    assert run["state"] == "success", api.failures(tasks)
    tries = api.get(f"{train}/tries")["task_instances"]
    assert [(t["try_number"], t["hostname"], t["state"]) for t in tries][:1] == [(1, killed, "failed")], tries
    final = api.get(train)
    assert final["try_number"] >= 2 and final["hostname"] in set(hostnames) - {killed}, final

    # Registered in the stack's MLflow, with the champion alias.
    version = champion(stack.url_of("MLFLOW_PORT"))["version"]

    # Published to the stack's S3: the manifest names the champion's version and its objects.
    settings = stack.settings
    s3 = S3(stack.url_of("S3_PORT"), settings["AWS_ACCESS_KEY_ID"], settings["AWS_SECRET_ACCESS_KEY"], "mlops").client()
    manifest = Manifest.parse(s3.get_object(Bucket="mlops", Key=f"penguins/pointers/{MANIFEST}")["Body"].read())
    assert manifest.version == version
    published = tmp_path / "published"
    published.mkdir()
    for name, digest in manifest.md5s.items():
        s3.download_file("mlops", f"penguins/{object_key(digest)}", str(published / name))

    # The server, which started on the image's own model, rolls to it within the poll interval.
    server = stack.url_of("SERVER_PORT")
    wait_for(lambda: get_json(f"{server}/model")["version"] == version, timeout=180, interval=2)
    assert get_json(f"{server}/model")["artifacts"] == manifest.md5s
    served = post_json(f"{server}/predict", {"records": held_out_records()})
    assert [p["species"] for p in served["predictions"]] == offline_species(published)


def test_switched_to_local_executor_the_scheduler_runs_the_dag_and_the_workers_idle(stack: ComposeStack) -> None:
    # Last in the file: it changes the module's stack. The env file's setting, then `up` again.
    stack.reconfigure(AIRFLOW_EXECUTOR="LocalExecutor")
    api = AirflowApi(stack.url, **ADMIN)
    run, tasks = api.run_dag("penguins_training")
    assert run["state"] == "success", api.failures(tasks)
    [scheduler] = stack.containers("scheduler")
    hostname = stack.podman("inspect", "--format", "{{.Config.Hostname}}", scheduler).strip()
    assert {task["hostname"] for task in tasks} == {hostname}
    # The recreated workers are up (`up --wait` found them healthy), and did nothing.
    idle = [stack.logs(worker) for worker in stack.containers("airflow-worker")]
    assert len(idle) == 2 and all("so this worker idles until stopped" in log for log in idle), idle
