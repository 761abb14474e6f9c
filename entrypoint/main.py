"""The prediction server's entrypoint, in place of docker-entrypoint.sh, with the same steps:

1. configure DVC for the remote the environment names (S3 or a local path);
2. `dvc pull` the transformer and model, and verify their md5s;
3. set the MLflow tracking variables;
4. exec uvicorn, which becomes PID 1 and handles SIGTERM.

Before the exec it also loads the model and scores one sample, so an artifact that verifies but
does not load fails here. Every failure ends here with one line naming the fix and its own exit
code (entrypoint/failures.py), SIGTERM and SIGINT included; uvicorn is never started then.
`--check` does every step but the exec, and exits 0.
"""

import errno
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType

from entrypoint import remote, storage
from entrypoint.failures import Exit, Failure, one_line
from entrypoint.settings import Settings, from_environment
from server.app import logs
from server.app.redaction import redact_url
from server.model.sample import SAMPLE, score_problem

log = logging.getLogger("entrypoint")


def process_start() -> float:
    """When this process started, on the CLOCK_BOOTTIME scale (so Python's own start-up counts)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.clock_gettime(time.CLOCK_BOOTTIME)


STARTED = process_start()


class Elapsed(logging.Formatter):
    """Each line carries the seconds since the process started, so a log shows where start-up goes."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{super().format(record)} (+{time.clock_gettime(time.CLOCK_BOOTTIME) - STARTED:.2f} s)"


def set_mlflow_variables(settings: Settings) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", "prediction-server")
    if settings.tracking_uri.startswith("file:"):
        # MLflow 3 refuses its file store unless asked; it is the documented offline default here.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    # mlflow imports GitPython, which warns for 20 lines when the image has no git: it needs none.
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # mlflow's loggers then go through the server's JSON lines, not a plain handler of mlflow's.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    # ...and it prints each run's URL to stdout ("🏃 View run ..."); the report logs the run id.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # The server reports to MLflow in the background; keep a dead server from retrying for minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def check_port(settings: Settings) -> None:
    with socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET) as probe:
        try:
            probe.bind((settings.host, settings.port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise Failure(
                    Exit.PORT_IN_USE,
                    f"port {settings.port} on {settings.host} is already in use; stop what listens there or set PORT",
                ) from None
            raise Failure(
                Exit.BAD_SETTING,
                f"cannot listen on {settings.host}:{settings.port} ({error.strerror}); check HOST and PORT",
            ) from None
        except (UnicodeError, ValueError) as error:  # a host name IDNA cannot encode, or a NUL in it
            raise Failure(Exit.BAD_SETTING, f"HOST={settings.host!r} is not a host name or address ({error})") from None


def check_model(settings: Settings) -> None:
    """Loads the verified artifacts and scores SAMPLE, as the server will."""
    from server.model import artifacts, pipeline

    try:
        transformer, model, _, _ = artifacts.load(storage.project_dir(settings), settings.pointers)
        problem = score_problem(pipeline.predict_proba(transformer, model, [SAMPLE])[0])
        if problem:
            raise ValueError(problem)
    except Exception as error:  # skops, sklearn and numpy raise many types; each means: unusable
        raise Failure(
            Exit.MODEL_UNUSABLE,
            f"the artifacts verify but are not a model this server can use ({one_line(error)}); "
            "publish a model trained by this version's server/model, or point the remote at one",
        ) from None


def uvicorn_command(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "server.app.main:app_from_environment",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
        "--log-level",
        settings.log_level,
        "--no-access-log",
        "--log-config",
        str(logs.CONFIG_FILE),
        "--timeout-graceful-shutdown",
        "10",
    ]


def run() -> list[str]:
    settings = from_environment()
    log.info(
        "entrypoint: [1/4] configuring DVC: remote %s%s",
        settings.remote_url,
        f" at {redact_url(settings.endpoint_url)}" if settings.endpoint_url else "",
    )
    storage.prepare_workdir(settings)
    settings = remote.fetch_pointers(settings)
    remote.check_pointers(settings)
    storage.configure(settings)
    remote.preflight(settings)
    hashes = storage.pull(settings)
    log.info("entrypoint:   verified %s", ", ".join(f"{name} md5 {md5}" for name, md5 in hashes.items()))
    check_model(settings)
    log.info("entrypoint:   the model loads and scores a sample")
    log.info("entrypoint: [3/4] MLflow tracking at %s", redact_url(settings.tracking_uri))
    set_mlflow_variables(settings)
    check_port(settings)
    os.environ["PREDICTION_ARTIFACTS_DIR"] = str(storage.project_dir(settings))
    os.environ["PREDICTION_POINTERS_DIR"] = str(settings.pointers)
    os.environ["MAX_BATCH_SIZE"] = str(settings.max_batch_size)
    os.environ["MODEL_POLL_SECONDS"] = str(settings.poll_seconds)
    storage.share_between_workers(settings)
    command = uvicorn_command(settings)
    log.info(
        "entrypoint: [4/4] exec uvicorn on %s:%d with %d worker(s)%s",
        settings.host,
        settings.port,
        settings.workers,
        f", checking {settings.pointers_url} for a new model every {settings.poll_seconds} s"
        if settings.poll_seconds
        else "",
    )
    return command


def interrupted(signum: int, _: FrameType | None) -> None:
    """As PID 1, Python would ignore SIGTERM: end the start-up instead. Raised here, the failure
    unwinds through subprocess.run, which kills a running `dvc pull` on its way out."""
    name = signal.Signals(signum).name
    code = Exit.TERMINATED if signum == signal.SIGTERM else Exit.INTERRUPTED
    raise Failure(code, f"{name} during start-up; stopped before the server started")


def main() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, interrupted)
    # The entrypoint's own lines only: DVC's and botocore's INFO chatter ("Initialized DVC
    # repository.", "Found credentials in environment variables.") stays below the root's WARNING.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Elapsed("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        command = run()
    except Failure as failure:
        print(f"entrypoint: error: {one_line(failure)}", file=sys.stderr)
        sys.exit(failure.code)
    except Exception as error:  # a bug: still one line and a documented code, never a traceback
        print(
            f"entrypoint: error: unexpected {type(error).__name__}: {one_line(error)}; this is a bug, please report it",
            file=sys.stderr,
        )
        sys.exit(Exit.PULL_FAILED)
    sys.stderr.flush()
    if "--check" in sys.argv[1:]:
        log.info("entrypoint: --check: everything is in place; not starting uvicorn")
        return
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
