"""The training pipeline end to end with `airflow dags test`, on a real PostgreSQL metadata
database, moto's S3 and a real `mlflow server`; then the closed loop: the prediction server's
entrypoint, pointed at the same S3, serves the pipeline's model."""

import os
import subprocess
from pathlib import Path

import pytest

from server.model import artifacts
from server.model.pointers import MANIFEST, Manifest, object_key
from tests.support.mlflow_server import champion
from tests.support.network import free_port, get_json, post_json, wait_for_http
from tests.support.penguin_records import held_out_records, offline_species
from tests.support.pipeline_stack import pipeline_stack

AIRFLOW = Path(os.environ["AIRFLOW"])
ENTRYPOINT = Path(os.environ["ENTRYPOINT"])
DAGS = Path(os.environ["DAGS"]).parent
REMOTE_PATH = "pipeline"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with pipeline_stack(tmp_path_factory.mktemp("stack"), DAGS, REMOTE_PATH) as running:
        airflow(running.env, "db", "migrate")
        yield running.env, running.s3, running.tracking, running.home


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def s3_keys(s3) -> set[str]:
    listing = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=REMOTE_PATH)
    return {item["Key"] for item in listing.get("Contents", [])}


@pytest.fixture(scope="module")
def first_run(stack):
    env, s3, tracking, home = stack
    result = airflow(env, "dags", "test", "penguins_training")
    return result, env, s3, tracking, home


def test_the_pipeline_registers_and_publishes(first_run) -> None:
    result, _, s3, tracking, _ = first_run
    assert "state=success" in result.stdout + result.stderr, result.stdout[-2000:]
    version = champion(tracking)
    assert version["version"] == "1" and version["current_stage"] in ("None", None, "")
    keys = s3_keys(s3)
    pointers = {key for key in keys if "/pointers/" in key}
    assert pointers == {f"{REMOTE_PATH}/pointers/{name}" for name in published_names()}
    manifest = Manifest.parse(read(s3, f"{REMOTE_PATH}/pointers/{MANIFEST}"))
    assert manifest.version == version["version"]
    for name in artifacts.ARTIFACTS:
        digest = read(s3, f"{REMOTE_PATH}/pointers/{name}.dvc").decode().split("md5: ")[1].split()[0]
        assert manifest.md5s[name] == digest
        assert f"{REMOTE_PATH}/{object_key(digest)}" in keys


def published_names() -> set[str]:
    return {f"{name}.dvc" for name in artifacts.ARTIFACTS} | {MANIFEST}


def read(s3, key: str) -> bytes:
    return s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()


def test_a_failing_gate_publishes_nothing(first_run) -> None:
    _, env, s3, tracking, _ = first_run
    before = s3_keys(s3)
    result = subprocess.run(
        [str(AIRFLOW), "dags", "test", "penguins_training", "--conf", '{"accuracy_gate": 1.01}'],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = result.stdout + result.stderr
    assert "state=failed" in output or result.returncode != 0, output[-2000:]
    assert "is below the gate 1.01" in output
    assert s3_keys(s3) == before
    assert champion(tracking)["version"] == "1"


def test_the_server_serves_the_pipelines_model(first_run, tmp_path: Path) -> None:
    _, _, s3, tracking, home = first_run
    [trained] = [path for path in (home / "penguins").glob("*/artifacts") if (path / artifacts.MODEL).exists()][:1]

    port = free_port()
    server_env = s3.entrypoint_env(
        port,
        tmp_path / "w",
        REMOTE_PATH,
        DVC_POINTERS_URL=f"s3://{s3.bucket}/{REMOTE_PATH}/pointers",
        MLFLOW_TRACKING_URI=tracking,
    )
    with open(tmp_path / "server.log", "w") as log:
        server = subprocess.Popen([str(ENTRYPOINT)], env=server_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=240, alive=lambda: server.poll() is None)
        info = get_json(f"http://127.0.0.1:{port}/model")
        assert (
            info["version"] == champion(tracking)["version"] and info["mlflow_run_id"] == champion(tracking)["run_id"]
        )
        served = post_json(f"http://127.0.0.1:{port}/predict", {"records": held_out_records()})
        assert [p["species"] for p in served["predictions"]] == offline_species(trained)
    finally:
        server.terminate()
        server.wait(timeout=30)
