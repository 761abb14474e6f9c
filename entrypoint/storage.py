"""MODEL_WORKDIR and DVC: steps 1 and 2 (a DVC project in the writable workdir, its remote set
with DVC's own config API, then `dvc pull` with a timeout and retries and the md5 check of what
arrived), and what uvicorn's workers share there. remote.py asks the remote itself first."""

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from entrypoint.failures import Exit, Failure, one_line
from entrypoint.settings import Settings
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


def share_between_workers(settings: Settings) -> None:
    """What uvicorn's workers share, made fresh at each start (a persistent MODEL_WORKDIR may hold
    an earlier run's): prometheus_client's multiprocess directory, so /metrics adds up every
    worker, the files whose creation elects the one worker that reports each model to MLflow, and
    the rollout's staging folders (server/app/rollout.py)."""
    metrics, rollouts = settings.workdir / "prometheus", settings.workdir / "rollouts"
    shutil.rmtree(metrics, ignore_errors=True)
    shutil.rmtree(rollouts, ignore_errors=True)
    try:
        metrics.mkdir(parents=True)
        for claim in settings.workdir.glob("mlflow-reported*"):
            claim.unlink(missing_ok=True)
    except OSError as error:
        raise Failure(
            Exit.UNWRITABLE_WORKDIR, f"cannot write {metrics} ({error.strerror}); free space or fix MODEL_WORKDIR"
        ) from None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    os.environ["PREDICTION_REPORT_ONCE"] = str(settings.workdir / "mlflow-reported")
    os.environ["PREDICTION_ROLLOUT_DIR"] = str(rollouts)


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
