"""The remote, asked directly before DVC is: S3's answers turned into the entrypoint's failures,
each with its fix (bad credentials, a missing bucket or artifact, an unreachable endpoint, TLS, a
proxy, a key that may read but not list), and the published .dvc pointer files fetched and
checked."""

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from entrypoint.failures import Exit, Failure, one_line
from entrypoint.settings import DEFAULT_POINTERS, DEFAULT_REMOTE, Settings
from server.app.redaction import redact_url
from server.model import pointers

log = logging.getLogger("entrypoint")


def object_keys(settings: Settings) -> dict[str, str]:
    """artifact -> where DVC 3 stores it in a remote."""
    keys = {}
    for name in pointers.ARTIFACTS:
        try:
            digest = pointers.recorded_md5(settings.pointers / f"{name}.dvc")
        except pointers.ArtifactError as error:
            where = settings.pointers_url or "DVC_POINTERS_DIR"
            raise Failure(Exit.CORRUPT_ARTIFACT, f"{error}; publish the pointer files again, or fix {where}") from None
        keys[name] = pointers.object_key(digest)
    return keys


def check_pointers(settings: Settings) -> None:
    """Every artifact's .dvc file is there and records an md5, before DVC reads them."""
    object_keys(settings)


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


def fetch_pointers(settings: Settings) -> Settings:
    """With DVC_POINTERS_URL, the pointer files of the pipeline's last publication replace the
    image's own: written from its manifest, the one object that names all three md5s. With
    nothing published yet and MODEL_POLL_SECONDS set, the image's own model is served until the
    rollout finds a publication; without MODEL_POLL_SECONDS that is a failure."""
    if not settings.pointers_url:
        return settings
    bucket, prefix = pointers.s3_location(settings.pointers_url)
    with s3_failures(settings, bucket):
        text = read_object(s3_client(settings), bucket, pointers.s3_key(prefix, pointers.MANIFEST))
    if text is None and settings.poll_seconds:
        # A stack coming up before its pipeline's first run: serve, and roll when it publishes.
        log.info(
            "entrypoint:   nothing is published at %s yet: serving the image's own model until a model is",
            settings.pointers_url,
        )
        return dataclasses.replace(
            settings, remote_url=str(DEFAULT_REMOTE), endpoint_url=None, pointers=DEFAULT_POINTERS
        )
    if text is None:
        raise Failure(
            Exit.MISSING_DATA,
            f"{settings.pointers_url} has no {pointers.MANIFEST}; run the training "
            "pipeline's publish step, or unset DVC_POINTERS_URL to serve the image's own model",
        )
    try:
        manifest = pointers.Manifest.parse(text)
    except pointers.ArtifactError as error:
        raise Failure(
            Exit.CORRUPT_ARTIFACT,
            f"{settings.pointers_url}/{pointers.MANIFEST} is {error}; publish again with the pipeline",
        ) from None
    target = settings.workdir / "pointers"
    try:
        manifest.write_pointers(target)
    except OSError as error:
        raise Failure(
            Exit.UNWRITABLE_WORKDIR, f"cannot write {target} ({error.strerror}); free space or fix MODEL_WORKDIR"
        ) from None
    log.info("entrypoint:   pointer files of model version %s from %s", manifest.version, settings.pointers_url)
    return dataclasses.replace(settings, pointers=target)


def read_object(client, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such key."""
    import botocore.exceptions as errors

    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except errors.ClientError as error:
        if _no_such_key(error):
            return None
        raise


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
        if _no_such_key(error):
            return False
        raise


def _no_such_key(error) -> bool:
    """A ClientError that says the object is not there (HEAD answers a bare 404)."""
    return error.response["Error"]["Code"] in ("404", "NoSuchKey")


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
