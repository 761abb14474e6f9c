"""//airflow/s3:image, run with no daemon (umoci + runc) as uid 65532 on a host directory as its
volume: S3 with the environment's credentials only, the bucket made at start-up, data kept
across a restart."""

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore
import pytest
from botocore.config import Config

from tests.support.network import free_port, is_listening, wait_for
from tests.support.oci_runtime import Container

IMAGE = Path(os.environ["S3_IMAGE"])
NONROOT = 65532
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "stack", "AWS_SECRET_ACCESS_KEY": "s3-image-test-secret"}


class Weed:
    """The image on ports of its own: the test's containers share the host's network namespace."""

    def __init__(self, workdir: Path, volume: Path) -> None:
        self.port = free_port()
        ports = {name: free_port() for name in ("master", "volume", "filer", "admin")}
        args = [
            "/usr/bin/weed",
            "mini",
            "-dir=/data",
            "-admin.ui=false",
            "-webdav=false",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={self.port}",
            *[f"-{name}.port={port}" for name, port in ports.items()],
        ]
        env = {**CREDENTIALS, "S3_BUCKET": "mlops,mlflow"}
        workdir.mkdir(exist_ok=True)
        self.container = Container(IMAGE, workdir, args=args, env=env, volumes={"/data": volume}, read_only=True)
        self.log = workdir / f"{self.container.name}.log"

    def client(self, secret: str = CREDENTIALS["AWS_SECRET_ACCESS_KEY"], **config: object):
        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, **config),
        )

    def __enter__(self) -> "Weed":
        self.container.start(self.log)
        wait_for(lambda: not self.container.alive() or (is_listening(self.port) and self._buckets()), timeout=120)
        assert self.container.alive(), self.log.read_text()
        return self

    def _buckets(self) -> bool:
        try:
            return {"mlops", "mlflow"} <= {b["Name"] for b in self.client().list_buckets()["Buckets"]}
        except botocore.exceptions.BotoCoreError:
            return False

    def __exit__(self, *_: object) -> None:
        assert self.container.stop() in (0, -15, 143), self.log.read_text()[-3000:]


def empty_volume(parent: Path) -> Path:
    path = parent / "data"
    path.mkdir(mode=0o700)
    os.chown(path, NONROOT, NONROOT)
    return path


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weed]:
    workdir = tmp_path_factory.mktemp("run")
    with Weed(workdir, empty_volume(workdir)) as running:
        yield running


def test_the_buckets_are_made_and_objects_round_trip(weed: Weed) -> None:
    client = weed.client()
    client.put_object(Bucket="mlops", Key="penguins/files/md5/ab/cdef", Body=b"artifact bytes")
    listing = client.list_objects_v2(Bucket="mlops", Prefix="penguins/")
    assert [item["Key"] for item in listing["Contents"]] == ["penguins/files/md5/ab/cdef"]
    assert client.get_object(Bucket="mlops", Key="penguins/files/md5/ab/cdef")["Body"].read() == b"artifact bytes"


def test_a_wrong_secret_and_anonymous_requests_are_refused(weed: Weed) -> None:
    for client in (weed.client(secret="wrong"), weed.client(signature_version=botocore.UNSIGNED)):
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            client.list_objects_v2(Bucket="mlops")
        assert refused.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")


def test_it_runs_as_nonroot_and_the_data_outlives_the_container(tmp_path: Path) -> None:
    volume = empty_volume(tmp_path)
    with Weed(tmp_path / "first", volume) as first:
        first.client().put_object(Bucket="mlflow", Key="kept", Body=b"42")
    assert {path.stat().st_uid for path in volume.rglob("*")} == {NONROOT}
    with Weed(tmp_path / "second", volume) as second:
        assert second.client().get_object(Bucket="mlflow", Key="kept")["Body"].read() == b"42"
