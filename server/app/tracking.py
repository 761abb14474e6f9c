"""Tells MLflow which model this server serves, in the background: an unreachable MLflow never
blocks start-up or a prediction, it is logged and skipped."""

import json
import logging
import os
import threading
from typing import Any

from server.app.redaction import redact_url

log = logging.getLogger("server.tracking")
EXPERIMENT = "prediction-server"


def first_to_report(claim: str | None) -> bool:
    """True for one process among uvicorn's workers: the one that creates `claim` (a path the
    entrypoint removes at each start). With no claim path, every process reports."""
    if not claim:
        return True
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return True
    except FileExistsError:
        return False


def report_serving(metadata: dict[str, Any], hashes: dict[str, str]) -> threading.Thread:
    thread = threading.Thread(target=_report, args=(metadata, hashes), name="mlflow-report", daemon=True)
    thread.start()
    return thread


def _report(metadata: dict[str, Any], hashes: dict[str, str]) -> None:
    uri = redact_url(os.environ.get("MLFLOW_TRACKING_URI", ""))
    try:
        import mlflow

        mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
        tags = {
            "served.model_name": str(metadata.get("name")),
            "served.model_version": str(metadata.get("version")),
            "served.training_run_id": str(metadata.get("mlflow_run_id")),
            "served.registered_version": str(metadata.get("mlflow_model_version")),
            **{f"served.md5.{name}": md5 for name, md5 in hashes.items()},
        }
        with mlflow.start_run(run_name="serving", tags=tags) as run:
            mlflow.log_dict({"metadata": metadata, "artifacts": hashes}, "served_model.json")
        log.info(json.dumps({"event": "mlflow_reported", "tracking_uri": uri, "run_id": run.info.run_id}))
    except Exception as error:  # any failure of an optional side channel: log it and carry on
        log.warning(json.dumps({"event": "mlflow_unavailable", "tracking_uri": uri, "error": str(error)[:300]}))
