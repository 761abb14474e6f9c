"""What the training pipeline runs against, for tests and benches: PostgreSQL as Airflow's metadata
database, moto's S3 as the DVC remote and a real `mlflow server`, with the environment that points
`airflow` commands at them."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.mlflow_server import mlflow_server
from tests.support.postgres import postgres
from tests.support.s3 import S3, moto_s3


@dataclass
class PipelineStack:
    env: dict[str, str]  # for `airflow ...` processes
    database: str  # SQLAlchemy URL
    s3: S3
    tracking: str  # MLflow tracking URI
    home: Path  # AIRFLOW_HOME


@contextmanager
def pipeline_stack(workdir: Path, dags: Path, remote_path: str) -> Iterator[PipelineStack]:
    """`dags`: the DAGs folder; `remote_path`: the DVC remote's prefix in the S3 bucket."""
    with postgres(workdir / "db") as database, moto_s3(workdir) as s3, mlflow_server(workdir) as tracking:
        home = workdir / "airflow-home"
        env = {
            "PATH": os.environ["PATH"],
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Two cores: no 32 LocalExecutor workers; and no log server listening on every interface.
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "0",
            "PENGUINS_DVC_REMOTE_URL": f"s3://{s3.bucket}/{remote_path}",
            "PENGUINS_DVC_ENDPOINT_URL": s3.endpoint,
            "AWS_ENDPOINT_URL_S3": s3.endpoint,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": s3.region,
            "MLFLOW_TRACKING_URI": tracking,
        }
        yield PipelineStack(env=env, database=database, s3=s3, tracking=tracking, home=home)
