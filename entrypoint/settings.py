"""The entrypoint's environment contract (README.md, "Running the prediction server"), validated
before anything starts."""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

# botocore's own checks, so a value passes here exactly when boto3 would accept it.
from botocore.handlers import VALID_BUCKET, VALID_S3_ARN
from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

from entrypoint.failures import Exit, Failure
from server.model import pointers

WHOLE_NUMBER = re.compile(r"-?[0-9]+")

# Where the image (and `bazel run`) keeps the default model: the runfiles of this binary.
MAIN_REPOSITORY = Path(__file__).parent.parent
DEFAULT_POINTERS = MAIN_REPOSITORY / "server" / "artifacts"
DEFAULT_REMOTE = DEFAULT_POINTERS / "default_remote"


@dataclass(frozen=True)
class Settings:
    remote_url: str
    endpoint_url: str | None
    pointers_url: str | None
    workdir: Path
    pointers: Path
    pull_timeout: float
    pull_retries: int
    host: str
    port: int
    workers: int
    log_level: str
    tracking_uri: str
    max_batch_size: int
    poll_seconds: int

    @property
    def is_s3(self) -> bool:
        return self.remote_url.startswith("s3://")

    @property
    def bucket_and_prefix(self) -> tuple[str, str]:
        return pointers.s3_location(self.remote_url)


def _integer(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    if not WHOLE_NUMBER.fullmatch(raw):
        raise Failure(Exit.BAD_SETTING, f"{name}={raw!r} is not a whole number; set it to {low}..{high}")
    value = int(raw)
    if not low <= value <= high:
        raise Failure(Exit.BAD_SETTING, f"{name}={value} is out of range; set it to {low}..{high}")
    return value


def _url(name: str, value: str) -> SplitResult:
    """urlsplit, with its ValueError (a bad IPv6 literal or port) as one line."""
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError as error:
        raise Failure(Exit.BAD_SETTING, f"{name}={value!r} is not a valid URL ({error})") from None
    return parts


def _s3_url(name: str, value: str, purpose: str) -> None:
    """s3://BUCKET/PATH, with a bucket name that S3 (and botocore) accepts."""
    parts = _url(name, value)
    if parts.scheme != "s3" or not parts.netloc:
        raise Failure(Exit.BAD_SETTING, f"{name}={value!r} must be s3://BUCKET/PATH ({purpose})")
    if not (VALID_BUCKET.fullmatch(parts.netloc) or VALID_S3_ARN.fullmatch(parts.netloc)):
        raise Failure(
            Exit.BAD_SETTING,
            f"{name}={value!r} names the bucket {parts.netloc!r}, which S3 does not allow; "
            "use letters, digits, dots, hyphens and underscores",
        )


def from_environment(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    remote = env.get("DVC_REMOTE_URL", "").strip() or str(DEFAULT_REMOTE)
    if remote.startswith("s3://"):
        _s3_url("DVC_REMOTE_URL", remote, "the DVC remote")
        keys = [name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if env.get(name)]
        if len(keys) == 1:
            missing = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} - set(keys)
            raise Failure(
                Exit.BAD_SETTING,
                f"{missing.pop()} is not set; S3 credentials need both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )
    elif "://" in remote or not remote.startswith("/"):
        raise Failure(
            Exit.BAD_SETTING, f"DVC_REMOTE_URL={remote!r} is neither s3://BUCKET/PATH nor an absolute local path"
        )
    pointers_url = env.get("DVC_POINTERS_URL", "").strip().rstrip("/") or None
    if pointers_url:
        _s3_url("DVC_POINTERS_URL", pointers_url, "where the pipeline publishes .dvc files")
    endpoint = env.get("DVC_REMOTE_ENDPOINT_URL", "").strip() or None
    if endpoint and not (
        _url("DVC_REMOTE_ENDPOINT_URL", endpoint).scheme in ("http", "https")
        and (is_valid_endpoint_url(endpoint) or is_valid_ipv6_endpoint_url(endpoint))
    ):
        raise Failure(Exit.BAD_SETTING, f"DVC_REMOTE_ENDPOINT_URL={endpoint!r} must be an http(s)://HOST[:PORT] URL")
    workdir = Path(env.get("MODEL_WORKDIR", "").strip() or "/tmp/prediction-server")
    if not workdir.is_absolute():
        raise Failure(Exit.BAD_SETTING, f"MODEL_WORKDIR={str(workdir)!r} must be an absolute path")
    poll_seconds = _integer(env, "MODEL_POLL_SECONDS", 0, 0, 86_400)
    if poll_seconds and not (pointers_url and remote.startswith("s3://")):
        raise Failure(
            Exit.BAD_SETTING,
            f"MODEL_POLL_SECONDS={poll_seconds} needs DVC_POINTERS_URL and an s3:// DVC_REMOTE_URL "
            "(where the pipeline publishes); set them, or MODEL_POLL_SECONDS=0",
        )
    level = env.get("LOG_LEVEL", "info").strip().lower()
    if level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise Failure(Exit.BAD_SETTING, f"LOG_LEVEL={level!r} is not one of critical, error, warning, info, debug")
    return Settings(
        remote_url=remote.rstrip("/"),
        endpoint_url=endpoint,
        pointers_url=pointers_url,
        workdir=workdir,
        pointers=Path(env.get("DVC_POINTERS_DIR", "").strip() or DEFAULT_POINTERS),
        pull_timeout=_integer(env, "DVC_PULL_TIMEOUT", 300, 1, 86_400),
        pull_retries=_integer(env, "DVC_PULL_RETRIES", 3, 1, 20),
        host=env.get("HOST", "").strip() or "0.0.0.0",
        port=_integer(env, "PORT", 9000, 1, 65_535),
        workers=_integer(env, "WEB_CONCURRENCY", 1, 1, 64),
        log_level=level,
        tracking_uri=env.get("MLFLOW_TRACKING_URI", "").strip() or f"file://{workdir / 'mlruns'}",
        max_batch_size=_integer(env, "MAX_BATCH_SIZE", 1000, 1, 100_000),
        poll_seconds=poll_seconds,
    )
