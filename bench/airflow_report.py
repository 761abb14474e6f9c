"""Airflow benchmark report, run by bench/airflow through `tools/bazel run //bench:airflow_report`.

Prints the Airflow image's layers (compressed and uncompressed) and the Postgres image's size, the
build time bench/airflow measured, one `airflow dags test` of the training pipeline on PostgreSQL,
moto's S3 and an mlflow server, split by task (from the metadata DB), and the compose stack brought
up the way tools/compose does it: images loaded, every service healthy, the pipeline triggered
over REST until the prediction server serves its model (a first run), then the DAG timed again on
two Celery workers and, with one worker stopped, on one; the memory (PSS) of each service; taken
down.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from bench.layers import layer_sizes
from tests.support.airflow_api import AirflowApi
from tests.support.compose_stack import ComposeStack, compose_stack
from tests.support.mlflow_server import champion
from tests.support.network import get_json, wait_for
from tests.support.pipeline_stack import pipeline_stack


def pipeline_run(workdir: Path) -> tuple[float, list[tuple[str, float]]]:
    dags = Path(os.environ["DAGS"]).resolve().parent
    with pipeline_stack(workdir, dags, "bench") as stack:
        airflow = os.environ["AIRFLOW"]
        subprocess.run([airflow, "db", "migrate"], env=stack.env, check=True, capture_output=True)
        start = time.monotonic()
        subprocess.run([airflow, "dags", "test", "penguins_training"], env=stack.env, check=True, capture_output=True)
        total = time.monotonic() - start
        connection = psycopg2.connect(stack.database.replace("postgresql+psycopg2", "postgresql"))
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT task_id, EXTRACT(EPOCH FROM end_date - start_date) FROM task_instance "
                    "WHERE dag_id = 'penguins_training' ORDER BY start_date"
                )
                return total, [(task, float(seconds)) for task, seconds in cursor.fetchall()]
        finally:
            connection.close()


def service_memory(stack: ComposeStack) -> dict[str, float]:
    """MB of proportional set size (PSS: shared pages split among their users) of each running
    container's processes, by compose service (replicas added up)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    memory: dict[str, float] = {}
    for line in stack.podman("ps", "--format", '{{.Pid}} {{index .Labels "com.docker.compose.service"}}').splitlines():
        pid, service = line.split()
        tree, total = [int(pid)], 0
        while tree:
            process = tree.pop()
            tree.extend(children.get(process, []))
            try:
                rollup = Path(f"/proc/{process}/smaps_rollup").read_text()
            except OSError:
                continue
            total += next(int(row.split()[1]) for row in rollup.splitlines() if row.startswith("Pss:"))
        memory[service] = memory.get(service, 0.0) + total / 1024
    return memory


def timed_run(api: AirflowApi) -> tuple[float, list[dict]]:
    triggered = time.monotonic()
    run, tasks = api.run_dag("penguins_training")
    if run["state"] != "success":
        sys.exit(f"bench: the pipeline failed in the stack:\n{api.failures(tasks)}")
    return time.monotonic() - triggered, tasks


def compose_run(workdir: Path) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """The stack brought up with two Celery workers, the pipeline run through it until the server
    serves its model, timed again on two workers and on one, and taken down: seconds for each
    step, the two timed runs, and each service's memory."""
    tarballs = [Path(path) for path in os.environ["IMAGE_TARBALLS"].split()]
    steps: dict[str, float] = {}
    runs: dict[str, float] = {}
    with compose_stack(
        workdir,
        Path(os.environ["COMPOSE_SESSION"]),
        Path(os.environ["COMPOSE"]),
        Path(os.environ["ENV_EXAMPLE"]),
        tarballs,
        {"MODEL_POLL_SECONDS": "5", "AIRFLOW_WORKERS": "2"},
    ) as stack:
        steps["load every image"] = stack.loaded - stack.started
        steps["up until all healthy"] = stack.ready - stack.loaded
        api = AirflowApi(stack.url, stack.settings["AIRFLOW_ADMIN_USERNAME"], stack.settings["AIRFLOW_ADMIN_PASSWORD"])
        steps["first DAG run, 2 workers"], tasks = timed_run(api)
        # From the publish task's end (Airflow's clock, UTC) to the server answering with its model.
        published = datetime.fromisoformat(next(t for t in tasks if t["task_id"] == "publish")["end_date"])
        version = champion(stack.url_of("MLFLOW_PORT"))["version"]
        wait_for(
            lambda: get_json(f"{stack.url_of('SERVER_PORT')}/model")["version"] == version, timeout=300, interval=0.5
        )
        steps["publish done until served (poll 5 s)"] = (datetime.now(UTC) - published).total_seconds()
        runs["2 workers"] = timed_run(api)[0]
        memory = service_memory(stack)
        stack.podman("stop", stack.containers("airflow-worker")[-1])
        runs["1 worker"] = timed_run(api)[0]
        stopping = time.monotonic()
    steps["down, volumes too"] = time.monotonic() - stopping
    if stack.exit_code != 0:
        sys.exit(f"bench: the compose session failed; see {stack.log}")
    return steps, runs, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--build-seconds", type=float, required=True)
    parser.add_argument("--server-build-seconds", type=float, required=True)
    args = parser.parse_args()

    postgres = layer_sizes(Path(os.environ["POSTGRES_IMAGE"]))
    print(
        f"\n//airflow/postgres:image: {sum(c for _, c, _ in postgres) / 1e6:.1f} MB compressed, "
        f"{sum(u for _, _, u in postgres) / 1e6:.1f} MB uncompressed, {len(postgres)} layers"
    )
    found = layer_sizes(args.image)
    print(f"\n//airflow:image: {len(found)} layers")
    print(f"{'layer':<16} {'compressed MB':>14} {'uncompressed MB':>16}")
    for digest, compressed, uncompressed in found:
        print(f"{digest[7:19]:<16} {compressed / 1e6:>14.1f} {uncompressed / 1e6:>16.1f}")
    print(f"{'image':<16} {sum(c for _, c, _ in found) / 1e6:>14.1f} {sum(u for _, _, u in found) / 1e6:>16.1f}")

    print(f"\n{'build (clean)':<30} {'seconds':>8} {'vs server image':>16}")
    print(f"{'//server:image':<30} {args.server_build_seconds:8.1f} {1:15.2f}x")
    print(f"{'//airflow:image':<30} {args.build_seconds:8.1f} {args.build_seconds / args.server_build_seconds:15.2f}x")

    print("\nbench: running the pipeline (airflow dags test) on PostgreSQL, moto S3 and mlflow server", file=sys.stderr)
    total, tasks = pipeline_run(Path(tempfile.mkdtemp(prefix="bench-airflow-")))
    print(f"\n{'pipeline task':<30} {'seconds':>8} {'share':>8}")
    for task, seconds in tasks:
        print(f"{task:<30} {seconds:8.2f} {seconds / total:7.0%}")
    print(f"{'dags test, end to end':<30} {total:8.2f} {1:7.0%}")

    print("\nbench: the compose stack up, the pipeline through it, and down (tools/compose's session)", file=sys.stderr)
    # On disk (the build root's /tmp is memory): the cache's output folder is writable under `bazel run`.
    store = Path(tempfile.mkdtemp(prefix="bench-compose-", dir=Path(os.environ["BAZEL_BUILDROOT_CACHE"], "output")))
    try:
        steps, runs, memory = compose_run(store)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    print(f"\n{'compose stack':<38} {'seconds':>8}")
    for step, seconds in steps.items():
        print(f"{step:<38} {seconds:8.1f}")
    print(f"\n{'DAG end to end, CeleryExecutor':<38} {'seconds':>8} {'vs 1 worker':>12}")
    for label in ("1 worker", "2 workers"):
        print(f"{label:<38} {runs[label]:8.1f} {runs[label] / runs['1 worker']:11.2f}x")
    print(f"\n{'service (after a run, 2 workers)':<38} {'PSS MB':>8} {'share':>8}")
    for service, megabytes in sorted(memory.items(), key=lambda item: -item[1]):
        print(f"{service:<38} {megabytes:8.0f} {megabytes / sum(memory.values()):7.0%}")
    print(f"{'whole stack':<38} {sum(memory.values()):8.0f} {1:7.0%}")


if __name__ == "__main__":
    main()
