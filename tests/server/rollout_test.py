"""The server rolls to each model the pipeline publishes without a restart (MODEL_POLL_SECONDS),
against moto's S3 and the real entrypoint with two workers: started before anything is published,
it serves the image's own model; a bounded request loop runs through the swap to the published
one with zero failures, and every answer's probabilities are those of the version it names; a
corrupt or unusable publication is refused once per worker while the old model keeps serving."""

import hashlib
import os
import subprocess
import threading
import time
import urllib.error
from pathlib import Path

import pytest

from server.model import artifacts, penguins, pipeline
from server.model.pointers import MANIFEST, Manifest, object_key
from tests.support.metrics import metric_total, scrape
from tests.support.network import free_port, get_json, post_json, wait_for, wait_for_http
from tests.support.penguin_records import held_out_records
from tests.support.s3 import S3, dvc_push, moto_s3

ENTRYPOINT = Path(os.environ["ENTRYPOINT"])
TRAINED = Path(os.environ["TRAINED_MODEL"]).parent
REMOTE = "penguins"
WORKERS = 2


def publish(s3: S3, artifacts_dir: Path, workdir: Path, version: str) -> Manifest:
    """What the pipeline's publish step does: dvc push, then the manifest, last."""
    project = dvc_push(s3, artifacts_dir, REMOTE, workdir)
    manifest = Manifest.of_pointers(project, version)
    put_manifest(s3, manifest)
    return manifest


def put_manifest(s3: S3, manifest: Manifest) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key=f"{REMOTE}/pointers/{MANIFEST}", Body=manifest.to_json().encode())


def train_second_model(directory: Path) -> None:
    """A model that answers differently: a third of the rows, and stronger regularisation."""
    train_set, test_set = penguins.split(penguins.load())
    trained = pipeline.train(train_set.iloc[::3], test_set, C=0.05)
    artifacts.save(trained, directory, {"name": "penguin-species", "version": "2"})


def offline_probabilities(directory: Path, records: list[dict]) -> list[dict[str, float]]:
    transformer, model = artifacts.load_objects(directory)
    classes = [str(label) for label in model.classes_]
    return [dict(zip(classes, row, strict=True)) for row in pipeline.predict_proba(transformer, model, records)]


class RequestLoop:
    """Predicts one held-out record at a time, from two threads, until stopped or `limit` requests;
    records each failure and each answer's (version, record index, probabilities)."""

    def __init__(self, url: str, records: list[dict], limit: int = 20_000) -> None:
        self.url, self.records, self.limit = url, records, limit
        self.answers: list[tuple[str, int, dict[str, float]]] = []
        self.failures: list[str] = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(offset,)) for offset in range(2)]

    def _run(self, offset: int) -> None:
        for sent in range(self.limit // 2):
            if self.stopped.is_set():
                return
            index = (2 * sent + offset) % len(self.records)
            try:
                answer = post_json(self.url, {"records": [self.records[index]]})
                self.answers.append((answer["model_version"], index, answer["predictions"][0]["probabilities"]))
            except (urllib.error.URLError, OSError, KeyError, ValueError) as error:
                self.failures.append(f"{type(error).__name__}: {error}")

    def __enter__(self) -> "RequestLoop":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=60)


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory):
    """The server started before anything is published, so on the image's own model; then the
    second model published while the request loop runs; yields once both workers serve it."""
    workdir = tmp_path_factory.mktemp("rollout")
    second = workdir / "second"
    train_second_model(second)
    records = held_out_records()
    expected = {"default": offline_probabilities(TRAINED, records), "2": offline_probabilities(second, records)}
    with moto_s3(workdir) as s3:
        port = free_port()
        env = s3.entrypoint_env(
            port,
            workdir / "work",
            REMOTE,
            DVC_POINTERS_URL=f"s3://{s3.bucket}/{REMOTE}/pointers",
            MODEL_POLL_SECONDS="1",
            WEB_CONCURRENCY=str(WORKERS),
        )
        log = workdir / "server.log"
        with open(log, "w") as sink:
            server = subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=sink, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/ready", timeout=240, alive=lambda: server.poll() is None)
            assert "nothing is published at" in log.read_text()
            with RequestLoop(f"{base}/predict", records) as loop:
                wait_for(lambda: len(loop.answers) >= 50)  # the loop is well under way before
                publish(s3, second, workdir / "publish-2", "2")
                # "max" over workers: the default's gauge is 0 only once every worker has rolled.
                wait_for(lambda: metric_total(scrape(base), "model_served", version="default") == 0, timeout=120)
                answered = len(loop.answers)
                wait_for(lambda: len(loop.answers) >= answered + 50)  # and goes on after
            yield s3, base, loop, expected, log
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_no_request_fails_or_mixes_models_during_the_rollout(rolled) -> None:
    _, base, loop, expected, _ = rolled
    assert loop.failures == []
    assert {version for version, _, _ in loop.answers} == {"default", "2"}
    for version, index, probabilities in loop.answers:
        assert probabilities == pytest.approx(expected[version][index], abs=1e-9), (version, index)
    # Each worker, once rolled, never answers with the old model again.
    tail = loop.answers[-50:]
    assert {version for version, _, _ in tail} == {"2"}
    assert get_json(f"{base}/model")["version"] == "2"


def test_the_rollout_shows_in_metrics_and_logs(rolled) -> None:
    _, base, _, _, log = rolled
    text = scrape(base)
    assert metric_total(text, "model_served", version="2") == 1
    assert metric_total(text, "model_rollouts_total", outcome="rolled_out") == WORKERS
    assert metric_total(text, "model_last_check_timestamp_seconds") > 0
    assert log.read_text().count('"event": "model_rolled_out"') == WORKERS


@pytest.mark.parametrize("fault", ["md5 mismatch", "does not load"])
def test_a_bad_publication_is_refused_and_the_old_model_keeps_serving(rolled, fault: str) -> None:
    s3, base, _, expected, log = rolled
    refused_before = metric_total(scrape(base), "model_rollouts_total", outcome="refused")
    served = get_json(f"{base}/model")
    if fault == "md5 mismatch":
        content, claimed = b"tampered bytes", md5_of(b"the bytes that were published")
    else:
        content = b"PK\x05\x06 not a skops archive"
        claimed = md5_of(content)
    s3.client().put_object(Bucket=s3.bucket, Key=f"{REMOTE}/{object_key(claimed)}", Body=content)
    manifest = Manifest(
        f"bad-{fault}",
        {**served["artifacts"], artifacts.MODEL: claimed},
        {name: 1 for name in artifacts.ARTIFACTS},
    )
    put_manifest(s3, manifest)
    wait_for(lambda: metric_total(scrape(base), "model_rollouts_total", outcome="refused") == refused_before + WORKERS)
    lines = log.read_text().count('"event": "model_rollout_refused"')
    # Refused once per worker: three more polls (1 s apart) add no line or count.
    time.sleep(3)
    assert metric_total(scrape(base), "model_rollouts_total", outcome="refused") == refused_before + WORKERS
    assert log.read_text().count('"event": "model_rollout_refused"') == lines
    assert get_json(f"{base}/model")["artifacts"] == served["artifacts"]
    answer = post_json(f"{base}/predict", {"records": held_out_records()[:1]})
    assert answer["model_version"] == "2"
    assert answer["predictions"][0]["probabilities"] == pytest.approx(expected["2"][0], abs=1e-9)


def md5_of(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()
