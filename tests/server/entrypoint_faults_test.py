"""The entrypoint's fault matrix: each misconfiguration gives one line naming the fix, its own
exit code, and no server (nothing listens on the port afterwards)."""

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.network import free_port, is_listening
from tests.support.s3 import S3, dvc_push, moto_s3

ENTRYPOINT = Path(os.environ["ENTRYPOINT"])
TRAINED = Path(os.environ["TRAINED_MODEL"]).parent


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("s3")
    with moto_s3(workdir) as running:
        dvc_push(running, TRAINED, "penguins", workdir)
        yield running


def start(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, int]:
    port = int(env.pop("PORT", free_port()))
    environment = {
        "PATH": os.environ["PATH"],
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_WORKDIR": str(tmp_path / "work"),
        "DVC_PULL_RETRIES": "2",
        **env,
    }
    result = subprocess.run([str(ENTRYPOINT)], env=environment, capture_output=True, text=True, timeout=300)
    return result, port


def assert_fails(result: subprocess.CompletedProcess, port: int, code: int, *phrases: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("entrypoint: error:")]
    assert result.returncode == code, result.stderr
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().endswith(errors[0]), "the error must be the last line"
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    assert "exec uvicorn" not in result.stderr
    assert not is_listening(port)


def test_an_invalid_variable(tmp_path: Path) -> None:
    result, port = start(tmp_path, WEB_CONCURRENCY="many")
    assert_fails(result, port, 64, "WEB_CONCURRENCY='many' is not a whole number")


def test_a_remote_that_is_neither_s3_nor_a_path(tmp_path: Path) -> None:
    result, port = start(tmp_path, DVC_REMOTE_URL="ftp://models/penguins")
    assert_fails(result, port, 64, "DVC_REMOTE_URL='ftp://models/penguins' is neither s3://BUCKET/PATH")


def test_a_missing_secret_key(tmp_path: Path, s3: S3) -> None:
    env = s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/penguins")
    del env["AWS_SECRET_ACCESS_KEY"]
    result, port = start(tmp_path, **env)
    assert_fails(result, port, 64, "AWS_SECRET_ACCESS_KEY is not set")


def test_bad_credentials(tmp_path: Path, s3: S3) -> None:
    result, port = start(tmp_path, **s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/penguins", AWS_SECRET_ACCESS_KEY="wrong"))
    assert_fails(result, port, 77, "refused the credentials", "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


def test_a_key_that_may_read_but_not_list_the_bucket(tmp_path: Path, s3: S3) -> None:
    """Without s3:ListBucket, dvc pull fails ("3 files failed to download", seen here) although
    every object is readable; the bucket's 403 is not a wrong key, and the line says so."""
    access, secret = s3.get_only_key
    env = s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/penguins", AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret)
    result, port = start(tmp_path, **env)
    assert_fails(result, port, 77, "may read the artifacts in bucket 'models' but not list it", "s3:ListBucket")


def test_an_unreachable_endpoint(tmp_path: Path, s3: S3) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result, port = start(tmp_path, **s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/penguins", DVC_REMOTE_ENDPOINT_URL=dead))
    assert_fails(result, port, 69, f"cannot reach {dead}", "check DVC_REMOTE_ENDPOINT_URL")


def test_tls_with_a_server_that_speaks_plain_http(tmp_path: Path, s3: S3) -> None:
    env = s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/penguins")
    env["DVC_REMOTE_ENDPOINT_URL"] = env["DVC_REMOTE_ENDPOINT_URL"].replace("http://", "https://")
    result, port = start(tmp_path, **env)
    assert_fails(result, port, 69, f"TLS with {env['DVC_REMOTE_ENDPOINT_URL']} failed", "AWS_CA_BUNDLE")


def test_a_proxy_that_does_not_answer(tmp_path: Path, s3: S3) -> None:
    proxy = f"http://127.0.0.1:{free_port()}"
    env = s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/penguins", HTTP_PROXY=proxy, HTTPS_PROXY=proxy)
    result, port = start(tmp_path, **env)
    assert_fails(result, port, 69, "through the proxy", "check HTTPS_PROXY and NO_PROXY")


def test_a_workdir_whose_dvc_project_an_earlier_start_left_broken(tmp_path: Path, s3: S3) -> None:
    config = tmp_path / "work" / "model" / ".dvc" / "config"
    config.parent.mkdir(parents=True)
    config.write_text("[core\nremote = ")
    result, port = start(tmp_path, **s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/penguins"))
    assert_fails(result, port, 73, "is unusable", f"delete {config.parent.parent} and start again")


def test_a_missing_bucket(tmp_path: Path, s3: S3) -> None:
    result, port = start(tmp_path, **s3.env(DVC_REMOTE_URL="s3://no-such-bucket/penguins"))
    assert_fails(result, port, 66, "bucket 'no-such-bucket' does not exist")


def test_a_missing_artifact(tmp_path: Path, s3: S3) -> None:
    result, port = start(tmp_path, **s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/empty"))
    assert_fails(result, port, 66, f"s3://{s3.bucket}/empty lacks", "model.skops", "dvc push")


def test_a_corrupt_artifact(tmp_path: Path, s3: S3) -> None:
    project = dvc_push(s3, TRAINED, "corrupt", tmp_path)
    digest = (project / "model.skops.dvc").read_text().split("md5: ")[1].split()[0]
    s3.client().put_object(Bucket=s3.bucket, Key=f"corrupt/files/md5/{digest[:2]}/{digest[2:]}", Body=b"not a model")
    result, port = start(tmp_path, **s3.env(DVC_REMOTE_URL=f"s3://{s3.bucket}/corrupt"))
    assert_fails(result, port, 65, "model.skops is corrupt", f"records {digest}")


def test_an_unwritable_workdir(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result, port = start(tmp_path, MODEL_WORKDIR=str(tmp_path / "a-file" / "work"))
    assert_fails(result, port, 73, "is not writable", "point MODEL_WORKDIR at a writable directory")


def test_a_port_in_use(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result, _ = start(tmp_path, PORT=str(port))
        assert result.returncode == 75, result.stderr
        assert f"port {port} on 127.0.0.1 is already in use; stop what listens there or set PORT" in result.stderr
        assert "exec uvicorn" not in result.stderr
