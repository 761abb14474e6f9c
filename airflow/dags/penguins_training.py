"""
### Penguin species: train, gate, register, publish

Closes the loop with the prediction server (`//server:image`):

1. **ingest** the Palmer penguins table (shipped inside the `palmerpenguins` wheel) into the run's folder;
2. **validate** it: schema, row count, missing-value bounds;
3. **train** the transformer and model with the project's training library (`server/model`), the
   same code and skops format the server loads;
4. **evaluate** against the `accuracy_gate` param: below it the run fails and nothing is published;
5. **log to MLflow**: params, metrics and the model; register a version of `penguin-species` and
   move its `champion` alias to it;
6. **publish** the artifacts with DVC to the S3 remote, their `.dvc` pointer files to
   `<remote>/pointers/`, and last `manifest.json` there, which names all three md5s: what the
   server's entrypoint and its rollout read (`DVC_POINTERS_URL`).

Every task is idempotent: it works in a folder named after the run, and the MLflow and DVC steps
find and reuse what an earlier try of the same run already did.

**Settings** come from the environment (or Airflow Variables of the same name), never from code:
`PENGUINS_DVC_REMOTE_URL` (`s3://bucket/path`), `PENGUINS_DVC_ENDPOINT_URL`, the `AWS_*`
credentials, `MLFLOW_TRACKING_URI`, and `PENGUINS_WORKDIR` (default: `$AIRFLOW_HOME/penguins`).
"""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.exceptions import AirflowFailException
from airflow.sdk import Variable, dag, get_current_context, task

MODEL_NAME = "penguin-species"
EXPERIMENT = "penguin-species-training"
MIN_ROWS = 300
MAX_MISSING_FRACTION = 0.05


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name) or Variable.get(name, default=None) or default
    if value is None:
        raise AirflowFailException(f"{name} is not set: set the environment variable or an Airflow Variable")
    return value


def run_dir() -> Path:
    """This run's own folder: a retried task finds its earlier outputs there."""
    context = get_current_context()
    base = Path(setting("PENGUINS_WORKDIR", os.path.join(os.environ.get("AIRFLOW_HOME", "/tmp"), "penguins")))
    folder = base / context["dag_run"].run_id.replace(":", "_").replace("+", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dag(
    dag_id="penguins_training",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["ml", "penguins", "training"],
    # Each retry waits Airflow's [core] default_task_retry_delay: 30 s in the image, and
    # AIRFLOW_TASK_RETRY_DELAY in airflow/.env for the compose stack.
    default_args={"owner": "ml-platform", "retries": 2},
    params={"accuracy_gate": 0.95},
    doc_md=__doc__,
)
def penguins_training() -> None:
    @task
    def ingest() -> str:
        from server.model import penguins

        path = run_dir() / "penguins.csv"
        penguins.load().to_csv(path, index=False)
        return str(path)

    @task
    def validate(path: str) -> dict[str, Any]:
        import pandas as pd

        from server.model import penguins

        frame = pd.read_csv(path)
        expected = [*penguins.FEATURES, penguins.TARGET]
        if list(frame.columns) != expected:
            raise AirflowFailException(f"columns {list(frame.columns)} are not the schema {expected}")
        if len(frame) < MIN_ROWS:
            raise AirflowFailException(f"{len(frame)} rows, fewer than {MIN_ROWS}")
        missing = frame.isna().mean().to_dict()
        if too_many := {column: share for column, share in missing.items() if share > MAX_MISSING_FRACTION}:
            raise AirflowFailException(f"too many missing values: {too_many} (bound {MAX_MISSING_FRACTION})")
        if frame[penguins.TARGET].isna().any() or set(frame[penguins.TARGET]) - set(penguins.SPECIES):
            raise AirflowFailException(f"unexpected species: {sorted(set(frame[penguins.TARGET].dropna()))}")
        return {"rows": len(frame), "missing": missing}

    @task
    def train(path: str, stats: dict[str, Any]) -> str:
        import pandas as pd

        from server.model import artifacts, penguins, pipeline

        train_set, test_set = penguins.split(pd.read_csv(path))
        trained = pipeline.train(train_set, test_set)
        out = run_dir() / "artifacts"
        artifacts.save(
            trained,
            out,
            {
                "name": MODEL_NAME,
                "version": None,
                "mlflow_run_id": None,
                "mlflow_model_version": None,
                "rows": stats["rows"],
            },
        )
        return str(out)

    @task
    def evaluate(artifacts_dir: str) -> dict[str, float]:
        from server.model import artifacts

        metrics = json.loads((Path(artifacts_dir) / artifacts.METADATA).read_text())["metrics"]
        gate = float(get_current_context()["params"]["accuracy_gate"])
        if metrics["accuracy"] < gate:
            raise AirflowFailException(
                f"accuracy {metrics['accuracy']:.4f} is below the gate {gate}: nothing is published"
            )
        return metrics

    @task
    def log_to_mlflow(artifacts_dir: str, metrics: dict[str, float]) -> dict[str, str]:
        import mlflow
        from mlflow import MlflowClient
        from sklearn.pipeline import Pipeline

        from server.model import artifacts, pipeline

        run_id_tag = get_current_context()["dag_run"].run_id
        mlflow.set_experiment(EXPERIMENT)
        client = MlflowClient()
        earlier = mlflow.search_runs(filter_string=f"tags.airflow_run_id = '{run_id_tag}'", output_format="list")
        if earlier:  # a retry: that run already holds the model
            run_id = earlier[0].info.run_id
        else:
            transformer, model = artifacts.load_objects(Path(artifacts_dir))
            with mlflow.start_run(tags={"airflow_run_id": run_id_tag}) as run:
                mlflow.log_params(pipeline.MODEL_PARAMS)
                mlflow.log_metrics(metrics)
                mlflow.sklearn.log_model(
                    Pipeline([("transformer", transformer), ("model", model)]),
                    name="model",
                    serialization_format="skops",
                    skops_trusted_types=artifacts.TRUSTED_TYPES,
                )
                for name in artifacts.ARTIFACTS:
                    mlflow.log_artifact(str(Path(artifacts_dir) / name), artifact_path="dvc")
                run_id = run.info.run_id
        versions = client.search_model_versions(f"name = '{MODEL_NAME}' and run_id = '{run_id}'")
        version = (
            versions[0].version if versions else mlflow.register_model(f"runs:/{run_id}/model", MODEL_NAME).version
        )
        client.set_registered_model_alias(MODEL_NAME, "champion", version)
        return {"run_id": run_id, "model_version": str(version)}

    @task
    def publish(artifacts_dir: str, registered: dict[str, str]) -> dict[str, str]:
        from server.model import artifacts

        source = Path(artifacts_dir)
        metadata_path = source / artifacts.METADATA
        metadata = json.loads(metadata_path.read_text())
        metadata.update(
            version=registered["model_version"],
            mlflow_run_id=registered["run_id"],
            mlflow_model_version=registered["model_version"],
        )
        metadata_path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        return _dvc_publish(
            source,
            setting("PENGUINS_DVC_REMOTE_URL"),
            os.environ.get("PENGUINS_DVC_ENDPOINT_URL"),
            registered["model_version"],
        )

    path = ingest()
    stats = validate(path)
    trained = train(path, stats)
    metrics = evaluate(trained)
    registered = log_to_mlflow(trained, metrics)
    publish(trained, registered)


def _dvc_publish(source: Path, remote: str, endpoint: str | None, version: str) -> dict[str, str]:
    """`dvc add` + `dvc push` in a project beside the artifacts, then the .dvc files to
    <remote>/pointers/ and, last, the manifest naming all three md5s, which is what servers read:
    one PUT, so two runs publishing at once never mix. Idempotent: DVC skips objects the remote has."""
    import boto3

    from server.model import artifacts, pointers

    project = source.parent / "dvc"
    project.mkdir(exist_ok=True)
    for name in artifacts.ARTIFACTS:
        shutil.copyfile(source / name, project / name)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(source.parent / "dvc-site-cache")}
    steps = [] if (project / ".dvc").is_dir() else [["init", "--no-scm", "-q"]]
    steps += [["remote", "add", "-f", "-d", "origin", remote]]
    if endpoint:
        steps += [["remote", "modify", "origin", "endpointurl", endpoint]]
    steps += [["add", "-q", *artifacts.ARTIFACTS], ["push"]]
    for args in steps:
        result = subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=project, env=env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"dvc {' '.join(args[:2])} failed: {(result.stderr or result.stdout).strip()[-500:]}")
    bucket, prefix = pointers.s3_location(remote)
    client = boto3.client("s3", endpoint_url=endpoint)
    for name in artifacts.ARTIFACTS:
        client.upload_file(str(project / f"{name}.dvc"), bucket, pointers.s3_key(prefix, f"pointers/{name}.dvc"))
    manifest = pointers.Manifest.of_pointers(project, version)
    client.put_object(
        Bucket=bucket, Key=pointers.s3_key(prefix, f"pointers/{pointers.MANIFEST}"), Body=manifest.to_json().encode()
    )
    return manifest.md5s


penguins_training()
