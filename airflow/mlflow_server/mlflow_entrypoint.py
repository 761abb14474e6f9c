"""The MLflow tracking server image's entrypoint: `mlflow server` with its stores from the
environment, after the secrets are checked; then MLflow replaces this process (exec).

- MLFLOW_DB_HOST, MLFLOW_DB_USER, MLFLOW_DB_PASSWORD, MLFLOW_DB_NAME (and MLFLOW_DB_PORT, 5432):
  the backend store, a PostgreSQL database; its URL is built here with the password URL-encoded.
  Without MLFLOW_DB_HOST the store is a SQLite file in /tmp (a trial, lost with the container).
- MLFLOW_ARTIFACTS_DESTINATION: where artifacts go, e.g. s3://mlflow/artifacts. The server
  proxies them, so clients need only MLFLOW_TRACKING_URI, never the S3 credentials.
- MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: the S3 behind that.
- PORT (5000). Arguments are passed on to `mlflow server`.
A blank secret or a `change-me` placeholder of airflow/.env.example stops it with one line.
"""

import os
import sys
from typing import NoReturn

from entrypoint import secrets

SECRETS = {
    "MLFLOW_DB_PASSWORD": "MLFLOW_DB_PASSWORD in airflow/.env",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY in airflow/.env",
}


def fail(message: str) -> NoReturn:
    sys.exit(f"mlflow-entrypoint: error: {message}")


def backend_store(env: dict[str, str]) -> str:
    try:
        # SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3; the image has psycopg2.
        url = secrets.database_url(env, "MLFLOW_DB", "postgresql+psycopg2")
    except ValueError as error:
        fail(str(error))
    return url or "sqlite:////tmp/mlflow.db"


def artifacts_destination(env: dict[str, str]) -> str:
    return env.get("MLFLOW_ARTIFACTS_DESTINATION") or "file:///tmp/mlflow-artifacts"


def command(env: dict[str, str], args: list[str]) -> list[str]:
    problem = secrets.refusal(env, SECRETS)
    if problem:
        fail(problem)
    destination = artifacts_destination(env)
    if destination.startswith("s3://") and not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        fail(f"MLFLOW_ARTIFACTS_DESTINATION is {destination}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "0.0.0.0",
        "--port",
        env.get("PORT") or "5000",
        "--backend-store-uri",
        backend_store(env),
        "--artifacts-destination",
        destination,
        *args,
    ]


def main() -> None:
    env = dict(os.environ)
    argv = command(env, sys.argv[1:])
    # Two processes instead of nine (about 450 MB instead of 1.5 GB): no background job runners.
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    # mlflow imports GitPython, which warns for 20 lines when the image has no git: it needs none.
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    port, destination = env.get("PORT") or "5000", artifacts_destination(env)
    print(f"mlflow-entrypoint: mlflow server on port {port}, artifacts to {destination}", file=sys.stderr, flush=True)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
