"""Airflow benchmark report, run by bench/airflow through `tools/bazel run //bench:airflow_report`.

Prints the Airflow image's layers (compressed and uncompressed, beside the floor of raw .debs and
wheel files), the build time bench/airflow measured, and one `airflow dags test` of the training
pipeline on PostgreSQL, moto's S3 and an mlflow server, split by task (from the metadata DB).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

from bench.layers import layer_sizes
from tests.support.mlflow_server import mlflow_server
from tests.support.postgres import postgres
from tests.support.s3 import moto_s3


def pipeline_run(workdir: Path) -> tuple[float, list[tuple[str, float]]]:
    with postgres(workdir / "db") as database, moto_s3(workdir) as s3, mlflow_server(workdir) as tracking:
        env = {"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(workdir / "home"), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
               "AIRFLOW__CORE__DAGS_FOLDER": str(Path(os.environ["DAGS"]).resolve().parent), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "PENGUINS_DVC_REMOTE_URL": f"s3://{s3.bucket}/bench", "PENGUINS_DVC_ENDPOINT_URL": s3.endpoint,
               "AWS_ENDPOINT_URL_S3": s3.endpoint, "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
               "AWS_DEFAULT_REGION": s3.region, "MLFLOW_TRACKING_URI": tracking}
        airflow = os.environ["AIRFLOW"]
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        start = time.monotonic()
        subprocess.run([airflow, "dags", "test", "penguins_training"], env=env, check=True, capture_output=True)
        total = time.monotonic() - start
        connection = psycopg2.connect(database.replace("postgresql+psycopg2", "postgresql"))
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT task_id, EXTRACT(EPOCH FROM end_date - start_date) FROM task_instance "
                               "WHERE dag_id = 'penguins_training' ORDER BY start_date")
                return total, [(task, float(seconds)) for task, seconds in cursor.fetchall()]
        finally:
            connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--build-seconds", type=float, required=True)
    parser.add_argument("--server-build-seconds", type=float, required=True)
    args = parser.parse_args()

    found = layer_sizes(args.image)
    print(f"\n//airflow:image: {len(found)} layers")
    print(f"{'layer':<16} {'compressed MB':>14} {'uncompressed MB':>16}")
    for digest, compressed, uncompressed in found:
        print(f"{digest[7:19]:<16} {compressed / 1e6:>14.1f} {uncompressed / 1e6:>16.1f}")
    print(f"{'image':<16} {sum(c for _, c, _ in found) / 1e6:>14.1f} {sum(u for _, _, u in found) / 1e6:>16.1f}")

    print(f"\n{'build (clean)':<30} {'seconds':>8} {'vs server image':>16}")
    print(f"{'//server:image':<30} {args.server_build_seconds:8.1f} {1:15.2f}x")
    print(f"{'//airflow:image':<30} {args.build_seconds:8.1f} {args.build_seconds / args.server_build_seconds:15.2f}x")

    print("\nbench: running the pipeline (airflow dags test) on PostgreSQL, moto S3 and mlflow server", file=sys.stderr)
    total, tasks = pipeline_run(Path(tempfile.mkdtemp(prefix="bench-airflow-")))
    print(f"\n{'pipeline task':<30} {'seconds':>8} {'share':>8}")
    for task, seconds in tasks:
        print(f"{task:<30} {seconds:8.2f} {seconds / total:7.0%}")
    print(f"{'dags test, end to end':<30} {total:8.2f} {1:7.0%}")


if __name__ == "__main__":
    main()
