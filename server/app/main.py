"""The FastAPI application. uvicorn serves it with
`uvicorn --factory server.app.main:app_from_environment`; tests call `create_app()`.

Environment: PREDICTION_ARTIFACTS_DIR (the pulled artifacts) and PREDICTION_POINTERS_DIR (their
.dvc files; default: the same directory), both set by the entrypoint; MAX_BATCH_SIZE.
"""

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.app import tracking
from server.app.limits import BodyLimit
from server.app.observability import Metrics, RequestObserver
from server.app.schemas import (
    MAX_BATCH_SIZE,
    ErrorMessage,
    ModelInfo,
    Penguin,
    Prediction,
    PredictRequest,
    PredictResponse,
)
from server.app.service import ModelService


def create_app(
    artifacts_dir: Path,
    pointers_dir: Path | None = None,
    max_batch_size: int = MAX_BATCH_SIZE,
    report_to_mlflow: bool = True,
) -> FastAPI:
    service = ModelService(artifacts_dir, pointers_dir or artifacts_dir)
    metrics = Metrics()
    # A record in JSON is under 250 bytes; 1 KiB each leaves room for whitespace, not for abuse.
    body_limit = 1024 * max_batch_size + 1024

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.load()
        logging.getLogger("server").info(
            json.dumps(
                {"event": "model_loaded", "version": service.metadata.get("version"), "artifacts": service.hashes}
            )
        )
        if report_to_mlflow:
            tracking.report_serving(service.metadata, service.hashes)
        yield

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
        return ModelInfo(
            name=service.metadata.get("name", "unknown"),
            version=str(service.metadata.get("version", "unknown")),
            artifacts=service.hashes,
            metrics=service.metadata.get("metrics", {}),
            mlflow_run_id=service.metadata.get("mlflow_run_id"),
            mlflow_model_version=_optional_str(service.metadata.get("mlflow_model_version")),
            max_batch_size=max_batch_size,
            input_schema=Penguin.model_json_schema(),
        )

    # async: a prediction takes a couple of milliseconds of CPU, less than a hop to the thread pool.
    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={
            413: {
                "model": ErrorMessage,
                "description": f"over {max_batch_size} records, or the body over {body_limit} bytes",
            }
        },
    )
    async def predict(request: PredictRequest) -> PredictResponse:
        if len(request.records) > max_batch_size:
            raise HTTPException(413, f"at most {max_batch_size} records per request; got {len(request.records)}")
        results = service.predict([record.model_dump() for record in request.records])
        for species, _ in results:
            metrics.predictions.labels(species).inc()
        return PredictResponse(
            predictions=[Prediction(species=species, probabilities=probs) for species, probs in results],
            model_version=str(service.metadata.get("version", "unknown")),
        )

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimit, max_bytes=body_limit)
    # Metrics are labelled by route, never by the raw URL: unknown paths share the label "other".
    app.add_middleware(RequestObserver, metrics=metrics, known_paths={route.path for route in app.routes})
    return app


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def app_from_environment() -> FastAPI:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper(), format="%(message)s")
    artifacts_dir = Path(os.environ["PREDICTION_ARTIFACTS_DIR"])
    pointers = os.environ.get("PREDICTION_POINTERS_DIR")
    return create_app(
        artifacts_dir, Path(pointers) if pointers else None, int(os.environ.get("MAX_BATCH_SIZE", MAX_BATCH_SIZE))
    )
