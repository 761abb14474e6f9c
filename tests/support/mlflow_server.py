"""A real `mlflow server` on 127.0.0.1 (sqlite backend), and reads of what it recorded."""

import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.network import free_port, wait_for_http
from tests.support.processes import stop


@contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """Yields the tracking URI. The server is //tests/support:mlflow_server, named by the test's
    MLFLOW_SERVER variable. Job execution is off: it would start seven more workers."""
    port = free_port()
    store = workdir / f"mlflow-{port}"
    store.mkdir()
    command = [
        os.environ["MLFLOW_SERVER"],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination",
        f"file://{store / 'artifacts'}",
    ]
    with open(store / "server.log", "w") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{uri}/health", timeout=180, alive=lambda: process.poll() is None)
        yield uri
    finally:
        stop(process)


def api(uri: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def champion(uri: str, model: str = "penguin-species") -> dict:
    """The registered model version the pipeline's `champion` alias names."""
    return api(uri, "registered-models/alias?" + urllib.parse.urlencode({"name": model, "alias": "champion"}))[
        "model_version"
    ]


def runs(uri: str, experiment: str) -> list[dict]:
    found = api(uri, "experiments/get-by-name?" + urllib.parse.urlencode({"experiment_name": experiment}))
    experiment_id = found["experiment"]["experiment_id"]
    return api(uri, "runs/search", {"experiment_ids": [experiment_id]}).get("runs", [])


def tags(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["data"].get("tags", [])}


def served_models(uri: str, experiment: str = "prediction-server") -> list[dict[str, str]]:
    """The tags of each run a prediction server reported; none while the experiment is missing."""
    try:
        return [tags(run) for run in runs(uri, experiment)]
    except urllib.error.HTTPError:
        return []
