"""//airflow/mlflow_server:image, run with no daemon (umoci + runc) as uid 65532: the tracking
server on a real PostgreSQL with its artifacts proxied to moto's S3, so a client with no S3
credentials logs an artifact that lands in the bucket; placeholder secrets stop it in one line."""

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import pytest

from tests.support.network import free_port, wait_for_http
from tests.support.oci_runtime import Container
from tests.support.postgres import postgres
from tests.support.s3 import S3, moto_s3

IMAGE = Path(os.environ["MLFLOW_IMAGE"])


def database_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {
        "MLFLOW_DB_HOST": "127.0.0.1",
        "MLFLOW_DB_PORT": str(parts.port),
        "MLFLOW_DB_USER": "airflow",
        # Characters a URL must encode; the test's PostgreSQL trusts local logins, so any works.
        "MLFLOW_DB_PASSWORD": "p@ss:w/rd%?&",
        "MLFLOW_DB_NAME": parts.path.lstrip("/"),
    }


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, S3, str]]:
    workdir = tmp_path_factory.mktemp("mlflow")
    with postgres(workdir / "pg", database="mlflow") as url, moto_s3(workdir, bucket="mlflow") as s3:
        port = free_port()
        env = {
            **database_env(url),
            "PORT": str(port),
            "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{s3.bucket}/artifacts",
            "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": s3.region,
        }
        container = Container(IMAGE, workdir, env=env, read_only=True)
        log = workdir / "mlflow.log"
        container.start(log)
        try:
            try:
                wait_for_http(f"http://127.0.0.1:{port}/health", timeout=240, alive=container.alive)
            except AssertionError as error:
                raise AssertionError(f"{error}:\n{log.read_text()[-4000:]}") from None
            yield f"http://127.0.0.1:{port}", s3, url
        finally:
            container.stop()


def test_a_client_without_s3_credentials_logs_an_artifact_into_the_bucket(tracking, monkeypatch) -> None:
    uri, s3, _ = tracking
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("image-test")
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.97)
        mlflow.log_text("hello from the test", "notes/hello.txt")
    keys = [item["Key"] for item in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert any(key.endswith(f"{run.info.run_id}/artifacts/notes/hello.txt") for key in keys), keys
    assert mlflow.get_run(run.info.run_id).data.metrics["accuracy"] == 0.97


def test_the_runs_are_kept_in_postgres(tracking) -> None:
    import psycopg2

    _, _, url = tracking
    parts = urlsplit(url)
    connection = psycopg2.connect(host="127.0.0.1", port=parts.port, user="airflow", dbname="mlflow")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM runs")
            assert cursor.fetchone()[0] >= 1
    finally:
        connection.close()


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        ("MLFLOW_DB_PASSWORD", "change-me", "MLFLOW_DB_PASSWORD is still the placeholder"),
        ("AWS_SECRET_ACCESS_KEY", "", "AWS_SECRET_ACCESS_KEY is empty"),
    ],
)
def test_a_placeholder_or_blank_secret_stops_it_in_one_line(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    env = {**database_env("postgresql://x@127.0.0.1:5432/mlflow"), "AWS_SECRET_ACCESS_KEY": "set", variable: value}
    result = Container(IMAGE, tmp_path, env=env, read_only=True).run()
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlflow-entrypoint: error: ") and expected in lines[0], result.stderr
