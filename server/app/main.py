"""The FastAPI application. uvicorn serves it with
`uvicorn --factory server.app.main:app_from_environment`; tests call `create_app()`.

Environment: PREDICTION_ARTIFACTS_DIR (the pulled artifacts) and PREDICTION_POINTERS_DIR (their
.dvc files; default: the same directory), both set by the entrypoint; MAX_BATCH_SIZE; and for the
rollout to each new published model (rollout.py) MODEL_POLL_SECONDS, DVC_POINTERS_URL,
DVC_REMOTE_URL, DVC_REMOTE_ENDPOINT_URL and PREDICTION_ROLLOUT_DIR.
"""

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.app import tracking
from server.app.limits import BodyLimit
from server.app.observability import Metrics, RequestObserver
from server.app.rollout import Rollout, RolloutSettings
from server.app.schemas import (
    MAX_BATCH_SIZE,
    ErrorMessage,
    ModelInfo,
    Penguin,
    Prediction,
    PredictResponse,
    predict_request,
)
from server.app.service import ModelService


def create_app(
    artifacts_dir: Path,
    pointers_dir: Path | None = None,
    max_batch_size: int = MAX_BATCH_SIZE,
    report_to_mlflow: bool = True,
    rollout: RolloutSettings | None = None,
) -> FastAPI:
    service = ModelService(artifacts_dir, pointers_dir or artifacts_dir)
    metrics = Metrics()
    # A record in JSON is under 250 bytes; 1 KiB each leaves room for whitespace, not for abuse.
    body_limit = 1024 * max_batch_size + 1024
    request_model = predict_request(max_batch_size)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loaded = service.load()
        metrics.model_served.labels(loaded.version).set(1)
        logging.getLogger("server").info(
            json.dumps({"event": "model_loaded", "version": loaded.version, "artifacts": loaded.hashes})
        )
        if report_to_mlflow and tracking.first_to_report(os.environ.get("PREDICTION_REPORT_ONCE")):
            tracking.report_serving(loaded.metadata, loaded.hashes)
        polling = asyncio.create_task(Rollout(rollout, service, metrics).run()) if rollout else None
        yield
        if polling:
            polling.cancel()

    app = FastAPI(title="Penguin species prediction", version="1.0", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def readable_422(_: Request, error: RequestValidationError) -> JSONResponse:
        # One readable line that names each bad field, e.g. "records.0.island: Input should be ...".
        problems = [f"{'.'.join(str(part) for part in e['loc'][1:])}: {e['msg']}" for e in error.errors()]
        return JSONResponse(
            status_code=422, content={"message": "; ".join(problems), "detail": jsonable_encoder(error.errors())}
        )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        return JSONResponse({"ready": service.ready}, status_code=200 if service.ready else 503)

    @app.get("/model", response_model=ModelInfo)
    def model() -> ModelInfo:
        served = service.current  # one model for every field, even while a rollout swaps it
        assert served is not None, "the lifespan loads a model before the first request"
        return ModelInfo(
            name=served.metadata.get("name", "unknown"),
            version=served.version,
            artifacts=served.hashes,
            metrics=served.metadata.get("metrics", {}),
            mlflow_run_id=served.metadata.get("mlflow_run_id"),
            mlflow_model_version=_optional_str(served.metadata.get("mlflow_model_version")),
            max_batch_size=max_batch_size,
            engine=served.engine,
            input_schema=Penguin.model_json_schema(),
        )

    # async: a prediction takes a couple of milliseconds of CPU, less than a hop to the thread pool.
    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={
            # FastAPI's own answer to a body it cannot decode at all (not UTF-8); bad JSON is a 422.
            400: {"model": ErrorMessage, "description": "the body could not be read as text"},
            413: {"model": ErrorMessage, "description": f"the request body is over {body_limit} bytes"},
        },
    )
    async def predict(request: request_model) -> PredictResponse:  # type: ignore[valid-type]
        served = service.current  # the version answered is the one that predicted
        assert served is not None, "the lifespan loads a model before the first request"
        results = served.predict([record.model_dump() for record in request.records])
        for species, _ in results:
            metrics.predictions.labels(species).inc()
        return PredictResponse(
            predictions=[Prediction(species=species, probabilities=probs) for species, probs in results],
            model_version=served.version,
        )

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.exposed()), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimit, max_bytes=body_limit)
    # Metrics are labelled by route, never by the raw URL: unknown paths share the label "other".
    app.add_middleware(RequestObserver, metrics=metrics, known_paths={route.path for route in app.routes})
    return app


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def app_from_environment() -> FastAPI:
    # uvicorn configured logging already when the entrypoint started it (JSON lines, logs.py);
    # basicConfig only applies when it did not. Python's warnings become log lines too.
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper(), format="%(message)s")
    logging.captureWarnings(True)
    artifacts_dir = Path(os.environ["PREDICTION_ARTIFACTS_DIR"])
    pointers = os.environ.get("PREDICTION_POINTERS_DIR")
    return create_app(
        artifacts_dir,
        Path(pointers) if pointers else None,
        int(os.environ.get("MAX_BATCH_SIZE", MAX_BATCH_SIZE)),
        rollout=RolloutSettings.from_environment(dict(os.environ)),
    )
