"""Steps 1 and 2: a DVC project in the writable workdir, its remote configured with DVC's own
commands, a preflight of the remote (so each misconfiguration gets its own message), then
`dvc pull` with a timeout and retries, and the md5 check of what arrived."""

import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from entrypoint.failures import Exit, Failure, one_line
from entrypoint.settings import Settings
from server.app.redaction import redact_url
from server.model import pointers

log = logging.getLogger("entrypoint")
TRANSIENT = ("Could not connect", "ConnectTimeout", "timed out", "Connection reset", "ReadTimeout", "503", "SlowDown")


def project_dir(settings: Settings) -> Path:
    return settings.workdir / "model"


def dvc_environment(settings: Settings) -> None:
    """DVC's own state goes to the workdir: the image's root filesystem may be read-only."""
    os.environ["DVC_NO_ANALYTICS"] = "1"
    os.environ["DVC_SITE_CACHE_DIR"] = str(settings.workdir / "dvc-site-cache")
    os.environ["DVC_GLOBAL_CONFIG_DIR"] = str(settings.workdir / "dvc-global-config")


def dvc(settings: Settings, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """`dvc ARGS` in the project, as a child process, so that a hung transfer can be timed out."""
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=project_dir(settings), capture_output=True, text=True, timeout=timeout
    )


def prepare_workdir(settings: Settings) -> None:
    try:
        settings.workdir.mkdir(parents=True, exist_ok=True)
        probe = settings.workdir / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise Failure(
            Exit.UNWRITABLE_WORKDIR,
            f"MODEL_WORKDIR {settings.workdir} is not writable ({error.strerror}); "
            "point MODEL_WORKDIR at a writable directory (a volume or tmpfs)",
        ) from None


def configure(settings: Settings) -> None:
    """A DVC project (no git) holding the pointer files, its default remote set in the project's
    local config, as `dvc remote add --local -d` would. Credentials stay in the environment.
    A persistent MODEL_WORKDIR keeps the project between starts, so it may be stale or full."""
    from dvc.exceptions import DvcException

    project = project_dir(settings)
    try:
        _configure(settings, project)
    except OSError as error:
        raise Failure(
            Exit.UNWRITABLE_WORKDIR,
            f"cannot write the DVC project in {project} ({error.strerror or error}); "
            "free space there or point MODEL_WORKDIR at a writable directory",
        ) from None
    except DvcException as error:
        raise Failure(
            Exit.UNWRITABLE_WORKDIR,
            f"the DVC project in {project} is unusable ({one_line(error)}); delete {project} and start again",
        ) from None


def _configure(settings: Settings, project: Path) -> None:
    from dvc.repo import Repo

    dvc_environment(settings)
    project.mkdir(parents=True, exist_ok=True)
    # DVC logs "Initialized DVC repository." and the like at INFO through a handler of its own;
    # a start prints the entrypoint's lines only.
    logging.getLogger("dvc").setLevel(logging.WARNING)
    repo = Repo(str(project)) if (project / ".dvc").is_dir() else Repo.init(str(project), no_scm=True)
    with repo.config.edit("repo") as config:
        config["core"]["analytics"] = False
    with repo.config.edit("local") as config:
        remote = {"url": settings.remote_url}
        if settings.endpoint_url:
            remote["endpointurl"] = settings.endpoint_url
        config["remote"] = {"origin": remote}
        config["core"]["remote"] = "origin"
    repo.close()
    for name in pointers.ARTIFACTS:
        shutil.copyfile(settings.pointers / f"{name}.dvc", project / f"{name}.dvc")


def object_keys(settings: Settings) -> dict[str, str]:
    """artifact -> where DVC 3 stores it in a remote: files/md5/<2 hex>/<30 hex>."""
    keys = {}
    for name in pointers.ARTIFACTS:
        try:
            digest = pointers.recorded_md5(settings.pointers / f"{name}.dvc")
        except pointers.ArtifactError as error:
            where = settings.pointers_url or "DVC_POINTERS_DIR"
            raise Failure(Exit.CORRUPT_ARTIFACT, f"{error}; publish the pointer files again, or fix {where}") from None
        keys[name] = f"files/md5/{digest[:2]}/{digest[2:]}"
    return keys


def preflight(settings: Settings) -> None:
    """Asks the remote directly, so bad credentials, a missing bucket or artifact and an unreachable
    endpoint each get their own message instead of dvc's generic one."""
    keys = object_keys(settings)
    if not settings.is_s3:
        missing = [name for name, key in keys.items() if not (Path(settings.remote_url) / key).is_file()]
        if missing:
            raise Failure(
                Exit.MISSING_DATA,
                f"the DVC remote {settings.remote_url} lacks {', '.join(missing)}; "
                "push the artifacts there (dvc push) or point DVC_REMOTE_URL at the remote that has them",
            )
        return

    bucket, prefix = settings.bucket_and_prefix
    client = s3_client(settings)
    with s3_failures(settings, bucket):
        # A 403 on the bucket is a wrong key, or a key without s3:ListBucket: the objects tell.
        may_list = _may_list(client, bucket)
        missing = [name for name, key in keys.items() if not _exists(client, bucket, pointers.s3_key(prefix, key))]
    if not may_list:
        raise Failure(
            Exit.BAD_CREDENTIALS,
            f"the credentials may read the artifacts in bucket {bucket!r} but not list it; "
            "grant them s3:ListBucket on the bucket, which dvc pull needs",
        )
    if missing:
        raise Failure(
            Exit.MISSING_DATA,
            f"{settings.remote_url} lacks {', '.join(missing)}; push the artifacts "
            "(dvc push) or point DVC_REMOTE_URL at the remote that has them",
        )


def s3_client(settings: Settings):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        config=Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2}),
    )


def _may_list(client, bucket: str) -> bool:
    import botocore.exceptions as errors

    try:
        client.head_bucket(Bucket=bucket)
        return True
    except errors.ClientError as error:
        if error.response["Error"]["Code"] in ("403", "AccessDenied"):
            return False
        raise


def _exists(client, bucket: str, key: str) -> bool:
    import botocore.exceptions as errors

    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except errors.ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey"):
            return False
        raise


@contextmanager
def s3_failures(settings: Settings, bucket: str) -> Iterator[None]:
    """Turns S3 errors into the entrypoint's failures, each with its fix."""
    import botocore.exceptions as errors
    from boto3.exceptions import Boto3Error

    where = redact_url(settings.endpoint_url) if settings.endpoint_url else "AWS S3"
    try:
        yield
    except errors.NoCredentialsError:
        raise Failure(Exit.BAD_SETTING, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
    except errors.SSLError as error:
        raise Failure(
            Exit.UNREACHABLE,
            f"TLS with {where} failed ({one_line(error)}); give its CA in AWS_CA_BUNDLE, or fix its certificate",
        ) from None
    except errors.ProxyConnectionError as error:
        raise Failure(
            Exit.UNREACHABLE,
            f"cannot reach {where} through the proxy ({one_line(error)}); check HTTPS_PROXY and NO_PROXY",
        ) from None
    except (errors.EndpointConnectionError, errors.ConnectTimeoutError, errors.ReadTimeoutError) as error:
        raise Failure(
            Exit.UNREACHABLE, f"cannot reach {where} ({error}); check DVC_REMOTE_ENDPOINT_URL and the network"
        ) from None
    except errors.ParamValidationError as error:
        raise Failure(
            Exit.BAD_SETTING, f"S3 refused the request's parameters ({one_line(error)}); check {where} and the URLs"
        ) from None
    except errors.ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchBucket"):
            raise Failure(
                Exit.MISSING_DATA, f"bucket {bucket!r} does not exist at {where}; create it or fix DVC_REMOTE_URL"
            ) from None
        if code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            raise Failure(
                Exit.BAD_CREDENTIALS,
                f"{where} refused the credentials for bucket {bucket!r} ({code}); "
                "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            ) from None
        raise Failure(Exit.UNREACHABLE, f"{where} answered {code} for bucket {bucket!r}; check the endpoint") from None
    except (errors.BotoCoreError, Boto3Error) as error:
        raise Failure(
            Exit.UNREACHABLE, f"S3 at {where} failed ({one_line(error)}); check the endpoint and the network"
        ) from None
    except OSError as error:
        raise Failure(
            Exit.UNWRITABLE_WORKDIR,
            f"cannot write to MODEL_WORKDIR ({error.strerror or error}); free space or fix MODEL_WORKDIR",
        ) from None


def fetch_pointers(settings: Settings) -> Settings:
    """With DVC_POINTERS_URL, the .dvc files the pipeline published replace the image's own."""
    if not settings.pointers_url:
        return settings
    bucket, prefix = pointers.s3_location(settings.pointers_url)
    target = settings.workdir / "pointers"
    target.mkdir(parents=True, exist_ok=True)
    client = s3_client(settings)
    with s3_failures(settings, bucket):
        for name in pointers.ARTIFACTS:
            key = pointers.s3_key(prefix, f"{name}.dvc")
            if not _exists(client, bucket, key):
                raise Failure(
                    Exit.MISSING_DATA,
                    f"{settings.pointers_url} has no {name}.dvc; run the training "
                    "pipeline's publish step, or unset DVC_POINTERS_URL to serve the image's own model",
                )
            client.download_file(bucket, key, str(target / f"{name}.dvc"))
    log.info("entrypoint:   pointer files from %s", settings.pointers_url)
    return dataclasses.replace(settings, pointers=target)


def check_pointers(settings: Settings) -> None:
    """Every artifact's .dvc file is there and records an md5, before DVC reads them."""
    object_keys(settings)


def pull(settings: Settings) -> dict[str, str]:
    """`dvc pull`, retried with backoff on transient errors; returns the verified md5s."""
    for attempt in range(1, settings.pull_retries + 1):
        started = time.monotonic()
        log.info(
            "entrypoint: [2/4] dvc pull from %s (attempt %d of %d, timeout %.0f s)",
            settings.remote_url,
            attempt,
            settings.pull_retries,
            settings.pull_timeout,
        )
        try:
            # A signal that ends the entrypoint meanwhile (main.py) makes subprocess.run kill dvc.
            result = dvc(settings, "pull", "--force", timeout=settings.pull_timeout)
            output = (result.stdout + result.stderr).strip()
        except subprocess.TimeoutExpired:
            result, output = None, f"no answer within DVC_PULL_TIMEOUT={settings.pull_timeout:.0f} s"
        if result is not None and result.returncode == 0:
            for line in output.splitlines():
                log.info("entrypoint:   dvc: %s", line)
            log.info("entrypoint:   pulled in %.1f s", time.monotonic() - started)
            break
        transient = result is None or any(marker in output for marker in TRANSIENT)
        if not transient or attempt == settings.pull_retries:
            code = Exit.UNREACHABLE if transient else Exit.PULL_FAILED
            raise Failure(
                code,
                f"dvc pull failed after {attempt} attempt(s): {output.splitlines()[-1] if output else 'no output'}",
            )
        delay = 2 ** (attempt - 1)
        log.warning("entrypoint:   transient failure (%s); retrying in %d s", output.splitlines()[-1][:200], delay)
        time.sleep(delay)
    try:
        return pointers.verify(project_dir(settings), settings.pointers)
    except pointers.ArtifactError as error:
        raise Failure(
            Exit.CORRUPT_ARTIFACT, f"{error}; re-push the artifact to the remote (dvc push) or fix the .dvc file"
        ) from None
