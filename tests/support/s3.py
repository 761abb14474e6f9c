"""moto's S3 server on loopback, with real IAM authentication, and a DVC push into it."""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from tests.support.network import free_port, is_listening
from tests.support.processes import python_env, start_python, stop

# moto checks signatures and IAM policies after this many requests: exactly the set-up below.
SETUP_ACTIONS = 7
ALLOW_S3 = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
# A key that may read objects but not list the bucket, as a narrowly scoped deploy key might.
GET_ONLY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'


@dataclass
class S3:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    get_only_key: tuple[str, str] = ("", "")  # (access key, secret): s3:GetObject alone
    region: str = "us-east-1"

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            "DVC_REMOTE_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            **overrides,
        }

    def entrypoint_env(self, port: int, workdir: Path, remote_path: str, **overrides: str) -> dict[str, str]:
        """The prediction server's entrypoint on 127.0.0.1:`port`, pulling from
        s3://BUCKET/`remote_path`, with its own MODEL_WORKDIR and the test's PATH."""
        return {
            "PATH": os.environ["PATH"],
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "MODEL_WORKDIR": str(workdir),
            "DVC_REMOTE_URL": f"s3://{self.bucket}/{remote_path}",
            **self.env(**overrides),
        }

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )


@contextmanager
def moto_s3(workdir: Path, bucket: str = "models", host: str = "127.0.0.1", check_auth: bool = True) -> Iterator[S3]:
    """host: the loopback address it listens on (127.0.0.2 to be another host than 127.0.0.1's);
    check_auth=False accepts any signature (moto answers a presigned HEAD with a 500 otherwise)."""
    port = free_port()
    process = start_python(
        ["-m", "moto.server", "-H", host, "-p", str(port)],
        workdir / f"moto-{port}.log",
        env=python_env(INITIAL_NO_AUTH_ACTION_COUNT=str(SETUP_ACTIONS)) if check_auth else python_env(),
    )
    try:
        deadline = time.monotonic() + 120
        while not is_listening(port, host):
            assert process.poll() is None and time.monotonic() < deadline, (workdir / f"moto-{port}.log").read_text()
            time.sleep(0.2)
        endpoint = f"http://{host}:{port}"
        setup = {
            "endpoint_url": endpoint,
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
            "region_name": "us-east-1",
        }
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="ci")
        iam.put_user_policy(UserName="ci", PolicyName="s3", PolicyDocument=ALLOW_S3)
        key = iam.create_access_key(UserName="ci")["AccessKey"]
        iam.create_user(UserName="reader")
        iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=GET_ONLY)
        reader = iam.create_access_key(UserName="reader")["AccessKey"]
        boto3.client("s3", **setup).create_bucket(Bucket=bucket)
        get_only = (reader["AccessKeyId"], reader["SecretAccessKey"])
        yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"], bucket, get_only)
    finally:
        stop(process)


def dvc_push(s3: S3, artifacts: Path, remote_path: str, workdir: Path) -> Path:
    """`dvc add` + `dvc push` of every file in `artifacts` to s3://bucket/remote_path; returns the
    project, whose .dvc pointer files describe what was pushed."""
    project = workdir / f"dvc-push-{remote_path.replace('/', '-')}"
    project.mkdir(parents=True)
    for path in sorted(artifacts.iterdir()):
        shutil.copyfile(path, project / path.name)
    env = python_env(
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(workdir / "dvc-site-cache"),
        AWS_ACCESS_KEY_ID=s3.access_key,
        AWS_SECRET_ACCESS_KEY=s3.secret_key,
        AWS_DEFAULT_REGION=s3.region,
    )
    names = sorted(path.name for path in artifacts.iterdir())
    for args in (
        ["init", "--no-scm", "-q"],
        ["remote", "add", "-d", "origin", f"s3://{s3.bucket}/{remote_path}"],
        ["remote", "modify", "origin", "endpointurl", s3.endpoint],
        ["add", "-q", *names],
        ["push"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=project, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, f"dvc {' '.join(args)}: {result.stderr}"
    return project
