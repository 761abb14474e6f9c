"""The entrypoint end to end: artifacts pushed to moto's S3 with DVC, a real `mlflow server`,
then `/ready`, predictions equal to the offline pipeline, and the served model in MLflow."""

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess

from server.model import artifacts
from tests.support.metrics import metric_total, scrape
from tests.support.mlflow_server import mlflow_server, served_models
from tests.support.network import free_port, get_json, post_json, wait_for, wait_for_http
from tests.support.penguin_records import held_out_records, offline_species
from tests.support.s3 import S3, dvc_push, moto_s3

ENTRYPOINT = Path(os.environ["ENTRYPOINT"])
TRAINED = Path(os.environ["TRAINED_MODEL"]).parent
POINTERS = Path(os.environ["POINTER_FILE"]).parent


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("services")
    with moto_s3(workdir) as s3, mlflow_server(workdir) as tracking:
        dvc_push(s3, TRAINED, "penguins", workdir)
        yield s3, tracking, workdir


def start_on_s3(s3: S3, tracking: str, port: int, tmp_path: Path, **extra: str) -> subprocess.Popen:
    """The entrypoint on `port`, pulling from the test's S3 and reporting to `tracking`; its output
    goes to tmp_path/entrypoint.log."""
    env = s3.entrypoint_env(port, tmp_path / "work", "penguins", MLFLOW_TRACKING_URI=tracking, **extra)
    with open(tmp_path / "entrypoint.log", "w") as log:
        return subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=log, stderr=subprocess.STDOUT)


def test_serves_the_pushed_model_and_tells_mlflow(services, tmp_path: Path) -> None:
    s3, tracking, _ = services
    port = free_port()
    server = start_on_s3(s3, tracking, port, tmp_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=240, alive=lambda: server.poll() is None)
        served = post_json(f"http://127.0.0.1:{port}/predict", {"records": held_out_records()})
        assert [p["species"] for p in served["predictions"]] == offline_species(TRAINED)

        hashes = artifacts.verify(TRAINED, POINTERS)
        assert get_json(f"http://127.0.0.1:{port}/model")["artifacts"] == hashes
        recorded = wait_for(lambda: served_models(tracking))[0]
        assert {key: recorded[key] for key in recorded if key.startswith("served.md5.")} == {
            f"served.md5.{name}": md5 for name, md5 in hashes.items()
        }
        assert recorded["served.model_name"] == "penguin-species"
    finally:
        server.terminate()
        code = server.wait(timeout=30)
    log_text = (tmp_path / "entrypoint.log").read_text()
    # The entrypoint became uvicorn (same process), which shuts down gracefully on SIGTERM and then
    # re-raises the signal, as uvicorn does, so the exit status reports it.
    assert code in (0, -15), log_text
    assert "Finished server process" in log_text, log_text
    steps = [log_text.index(f"[{n}/4]") for n in range(1, 5)]
    assert steps == sorted(steps), log_text


def test_with_no_storage_settings_it_serves_the_embedded_default(tmp_path: Path) -> None:
    port = free_port()
    env = {"PATH": os.environ["PATH"], "PORT": str(port), "HOST": "127.0.0.1", "MODEL_WORKDIR": str(tmp_path / "work")}
    with open(tmp_path / "entrypoint.log", "w") as log:
        server = subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=240, alive=lambda: server.poll() is None)
        answer = post_json(
            f"http://127.0.0.1:{port}/predict", {"records": [{"island": "Biscoe", "flipper_length_mm": 230}]}
        )
        assert answer["predictions"][0]["species"] == "Gentoo"
        assert answer["model_version"] == "default"
        # The default MLflow tracking is file-based, in the workdir; the report arrives in the background.
        meta = wait_for(lambda: list((tmp_path / "work" / "mlruns").glob("*/*/tags/served.md5.model.skops")))
        assert meta[0].read_text() == artifacts.recorded_md5(POINTERS / "model.skops.dvc")
    finally:
        server.terminate()
        server.wait(timeout=30)


def workers_that_predicted(metrics_dir: Path, scratch: Path) -> set[str]:
    """The pids whose own metric files count a prediction (a /ready poll also makes files)."""
    # prometheus_client names each worker's files <kind>_<pid>.db; collecting one pid's files alone
    # gives that worker's counts.
    pids = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("*.db")}
    predicted = set()
    for pid in pids:
        alone = scratch / pid
        shutil.rmtree(alone, ignore_errors=True)
        alone.mkdir(parents=True)
        for path in metrics_dir.glob(f"*_{pid}.db"):
            shutil.copy(path, alone)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(alone))
        if any(s.value for m in registry.collect() for s in m.samples if s.name == "predictions_total"):
            predicted.add(pid)
    return predicted


def test_two_workers_add_up_their_metrics_and_report_to_mlflow_once(services, tmp_path: Path) -> None:
    s3 = services[0]
    # An MLflow of this test's own, so that the one report is countable.
    with mlflow_server(tmp_path) as tracking:
        port = free_port()
        server = start_on_s3(s3, tracking, port, tmp_path, WEB_CONCURRENCY="2")
        try:
            wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=240, alive=lambda: server.poll() is None)

            # 8 clients at once, a connection per request, 100 records each: a worker busy scoring
            # cannot accept, so the kernel hands connections to the other one too. Which worker
            # accepts is the kernel's choice, so rounds go on until both have served (bounded).
            def serving_pids() -> set[str]:
                return workers_that_predicted(tmp_path / "work" / "prometheus", tmp_path / "by-worker")

            sent, batch = 0, {"records": [{"island": "Dream"}] * 100}
            with ThreadPoolExecutor(8) as clients:
                for _ in range(50):
                    list(clients.map(lambda _: post_json(f"http://127.0.0.1:{port}/predict", batch), range(40)))
                    sent += 40
                    if len(serving_pids()) >= 2:
                        break
            assert len(serving_pids()) >= 2, f"one worker served all {sent} requests: {serving_pids()}"
            for _ in range(10):
                text = scrape(f"http://127.0.0.1:{port}")
                assert metric_total(text, "predictions_total") == sent * 100
                assert metric_total(text, "http_requests_total", path="/predict", status="200") == sent
            # One worker claimed the report; the other never starts one, so one run, and one log line.
            assert len(wait_for(lambda: served_models(tracking))) == 1
            # The report logs its line once the run is closed: wait for it, then count.
            log = tmp_path / "entrypoint.log"
            wait_for(lambda: '"event": "mlflow_reported"' in log.read_text())
            assert log.read_text().count('"event": "mlflow_reported"') == 1, log.read_text()
        finally:
            server.terminate()
            server.wait(timeout=30)
