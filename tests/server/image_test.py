"""//server:image itself, run with no daemon (umoci + runc) as its own user 65532, against moto's
S3 and a real mlflow server on the test's loopback, with a read-only root filesystem."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from server.model import artifacts
from tests.support.mlflow_server import mlflow_server, served_models
from tests.support.network import free_port, get_json, post_json, wait_for, wait_for_http
from tests.support.oci_runtime import Container, can_map_all_uids
from tests.support.penguin_records import held_out_records, offline_species
from tests.support.s3 import dvc_push, moto_s3

IMAGE = Path(os.environ["SERVER_IMAGE"])
TRAINED = Path(os.environ["TRAINED_MODEL"]).parent
POINTERS = Path(os.environ["POINTER_FILE"]).parent


def uids(container: Container) -> set[str]:
    """The real and effective uids of the container's process, read from the host's /proc."""
    state = json.loads(
        subprocess.run(
            ["runc", "--root", str(container.state), "state", container.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    status = Path(f"/proc/{state['pid']}/status").read_text()
    return set(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:])


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory):
    assert can_map_all_uids(), "run outside the sandbox (tags = no-sandbox) to run the image's own user"
    workdir = tmp_path_factory.mktemp("services")
    with moto_s3(workdir) as s3, mlflow_server(workdir) as tracking:
        dvc_push(s3, TRAINED, "penguins", workdir)
        yield s3, tracking


def test_the_image_pulls_from_s3_serves_as_65532_read_only_and_reports(services, tmp_path: Path) -> None:
    s3, tracking = services
    port = free_port()
    env = {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DVC_REMOTE_URL": f"s3://{s3.bucket}/penguins",
        "MLFLOW_TRACKING_URI": tracking,
        **s3.env(),
    }
    container = Container(IMAGE, tmp_path, env=env, read_only=True)
    container.start(tmp_path / "server.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=180, alive=container.alive)
        assert uids(container) == {"65532"}
        served = post_json(f"http://127.0.0.1:{port}/predict", {"records": held_out_records()})
        assert [p["species"] for p in served["predictions"]] == offline_species(TRAINED)
        found = wait_for(lambda: served_models(tracking))
        assert found[0]["served.md5.model.skops"] == artifacts.recorded_md5(POINTERS / "model.skops.dvc")
    finally:
        code = container.stop()
    log = (tmp_path / "server.log").read_text()
    assert code == 0 or "Finished server process" in log, log
    assert "[4/4] exec uvicorn" in log
    assert_only_entrypoint_and_json_lines(log)


def assert_only_entrypoint_and_json_lines(log: str) -> None:
    """A start prints the entrypoint's lines, then JSON lines: no third-party warnings (mlflow's
    GitPython, in an image without git, printed 20 lines twice) and no plain uvicorn lines."""
    for line in filter(None, log.splitlines()):
        if line.startswith("entrypoint: "):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        assert isinstance(parsed, dict), f"neither the entrypoint's nor JSON: {line!r}\n{log}"


def test_with_no_environment_it_serves_the_embedded_default(tmp_path: Path) -> None:
    port = free_port()  # PORT only, so that the test can reach it: nothing about storage or MLflow
    container = Container(IMAGE, tmp_path, env={"PORT": str(port)}, read_only=True)
    container.start(tmp_path / "server.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=180, alive=container.alive)
        answer = post_json(
            f"http://127.0.0.1:{port}/predict",
            {"records": [{"island": "Dream", "bill_length_mm": 50.0, "bill_depth_mm": 19.0}]},
        )
        assert answer["predictions"][0]["species"] == "Chinstrap"
        info = get_json(f"http://127.0.0.1:{port}/model")
        assert info["version"] == "default"
        assert info["artifacts"]["model.skops"] == artifacts.recorded_md5(POINTERS / "model.skops.dvc")
        assert info["engine"] == "numpy"
    finally:
        container.stop()
    assert_only_entrypoint_and_json_lines((tmp_path / "server.log").read_text())
