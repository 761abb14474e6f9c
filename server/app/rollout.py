"""Rolls the server to each model the pipeline publishes, without a restart (MODEL_POLL_SECONDS).

Every interval the server reads the publication's manifest (DVC_POINTERS_URL/manifest.json, one
object naming all three md5s, so two runs never mix). When its md5s differ from the served
model's, the artifacts are fetched from the DVC remote by md5 into a staging folder, verified,
loaded, compiled and made to score a sample, all in a thread while the old model keeps serving;
then one assignment swaps them. A publication that fails any step is refused once, with one log
line and a metric, and the old model keeps serving. Each uvicorn worker rolls on its own.
"""

import asyncio
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from server.app import tracking
from server.app.observability import Metrics
from server.app.service import LoadedModel, ModelService, load_model
from server.model import pointers
from server.model.sample import SAMPLE, score_problem

log = logging.getLogger("server.rollout")


@dataclass(frozen=True)
class RolloutSettings:
    """From the variables the entrypoint validated (README.md, "Running the prediction server")."""

    interval: float
    pointers_url: str
    remote_url: str
    endpoint_url: str | None
    staging: Path

    @classmethod
    def from_environment(cls, env: dict[str, str]) -> "RolloutSettings | None":
        """None when polling is off: MODEL_POLL_SECONDS unset or 0."""
        interval = float(env.get("MODEL_POLL_SECONDS", "").strip() or 0)
        if interval <= 0:
            return None
        return cls(
            interval=interval,
            pointers_url=env["DVC_POINTERS_URL"].strip().rstrip("/"),
            remote_url=env["DVC_REMOTE_URL"].strip().rstrip("/"),
            endpoint_url=env.get("DVC_REMOTE_ENDPOINT_URL", "").strip() or None,
            staging=Path(env.get("PREDICTION_ROLLOUT_DIR") or Path(tempfile.gettempdir()) / "prediction-rollouts"),
        )


class Refused(Exception):
    """The publication is not a model this server will serve; it is not tried again."""


class Rollout:
    def __init__(self, settings: RolloutSettings, service: ModelService, metrics: Metrics) -> None:
        self.settings, self.service, self.metrics = settings, service, metrics
        self.refused: set[tuple[str, ...]] = set()
        self.serving_from: Path | None = None  # the staging folder of the served model, once rolled

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval)
            try:
                await asyncio.to_thread(self.check)
            except Exception as error:  # a bug must not end the polling for the server's lifetime
                self.metrics.rollouts.labels("check_failed").inc()
                log.error(
                    json.dumps({"event": "model_check_failed", "reason": f"bug: {type(error).__name__}: {error}"})
                )

    def check(self) -> str:
        """One poll; returns its outcome: unchanged, rolled_out, refused or check_failed."""
        import botocore.exceptions as errors
        from boto3.exceptions import Boto3Error

        try:
            outcome = self._check()
        except Refused as reason:
            outcome = "refused"
            log.warning(json.dumps({"event": "model_rollout_refused", "reason": str(reason)}))
        except (errors.BotoCoreError, errors.ClientError, Boto3Error, OSError) as error:
            outcome = "check_failed"
            log.warning(json.dumps({"event": "model_check_failed", "reason": f"{type(error).__name__}: {error}"}))
        if outcome != "unchanged":
            self.metrics.rollouts.labels(outcome).inc()
        return outcome

    def _check(self) -> str:
        client = self._client()
        bucket, prefix = pointers.s3_location(self.settings.pointers_url)
        body = client.get_object(Bucket=bucket, Key=pointers.s3_key(prefix, pointers.MANIFEST))["Body"].read()
        self.metrics.last_check.set(time.time())
        served = self.service.current
        try:
            manifest = pointers.Manifest.parse(body)
            fingerprint = tuple(manifest.md5s[name] for name in pointers.ARTIFACTS)
        except pointers.ArtifactError as error:
            manifest, fingerprint, problem = None, (hashlib.md5(body).hexdigest(),), f"the manifest is {error}"
        if fingerprint in self.refused or (served is not None and manifest and manifest.md5s == served.hashes):
            return "unchanged"  # what is served, or refused once already (the old model keeps serving)
        if manifest is None:
            return self._refuse(fingerprint, problem)
        publication = hashlib.md5("".join(fingerprint).encode()).hexdigest()
        staging = self.settings.staging / f"{os.getpid()}-{publication}"
        try:
            new = self._stage(client, manifest, staging)
        except Refused as reason:
            shutil.rmtree(staging, ignore_errors=True)
            return self._refuse(fingerprint, f"version {manifest.version}: {reason}")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._swap(served, new, staging, publication)
        return "rolled_out"

    def _stage(self, client, manifest: pointers.Manifest, staging: Path) -> LoadedModel:
        """The publication's artifacts fetched, verified, loaded and made to score SAMPLE."""
        bucket, prefix = pointers.s3_location(self.settings.remote_url)
        shutil.rmtree(staging, ignore_errors=True)
        manifest.write_pointers(staging)
        for name in pointers.ARTIFACTS:
            client.download_file(
                bucket, pointers.s3_key(prefix, pointers.object_key(manifest.md5s[name])), str(staging / name)
            )
        try:
            new = load_model(staging, staging)
            problem = score_problem(new.predict([SAMPLE])[0][1].values())
        except pointers.ArtifactError as error:
            raise Refused(str(error)) from None
        except Exception as error:  # sklearn and numpy raise many types; each means: unusable
            raise Refused(f"it does not score ({type(error).__name__}: {error})") from None
        if problem:
            raise Refused(problem)
        return new

    def _swap(self, old: LoadedModel | None, new: LoadedModel, staging: Path, publication: str) -> None:
        self.service.current = new  # the one step a request can observe
        if old is not None:
            self.metrics.model_served.labels(old.version).set(0)
        self.metrics.model_served.labels(new.version).set(1)
        log.info(
            json.dumps(
                {
                    "event": "model_rolled_out",
                    "from": old.version if old else None,
                    "to": new.version,
                    "artifacts": new.hashes,
                    "engine": new.engine,
                }
            )
        )
        if self.serving_from is not None and self.serving_from != staging:
            shutil.rmtree(self.serving_from, ignore_errors=True)
        self.serving_from = staging
        # One worker reports each new model, as one reports the model it started with.
        claim = os.environ.get("PREDICTION_REPORT_ONCE")
        if tracking.first_to_report(f"{claim}-{publication}" if claim else None):
            tracking.report_serving(new.metadata, new.hashes)

    def _refuse(self, fingerprint: tuple[str, ...], reason: str) -> str:
        """Remembers the publication, so that it is refused (and logged) once; raises Refused."""
        self.refused.add(fingerprint)
        raise Refused(reason)

    def _client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.settings.endpoint_url,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
        )
