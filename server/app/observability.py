"""Request metrics (Prometheus) and one structured log line per request, as pure ASGI middleware."""

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]
log = logging.getLogger("server.requests")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "path", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["path"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.predictions = Counter("predictions_total", "Predictions served", ["species"], registry=self.registry)
        # The rollout (rollout.py). With several workers, "max" reads as: some worker serves it.
        self.model_served = Gauge(
            "model_served",
            "1 for each model version a worker serves, 0 for one it served before",
            ["version"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.last_check = Gauge(
            "model_last_check_timestamp_seconds",
            "When the published manifest was last read (MODEL_POLL_SECONDS)",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.rollouts = Counter(
            "model_rollouts_total",
            "Publications met by the rollout: rolled_out, refused (corrupt or unusable) or check_failed",
            ["outcome"],
            registry=self.registry,
        )

    def exposed(self) -> CollectorRegistry:
        """What /metrics shows: this process's registry, or with several uvicorn workers
        (PROMETHEUS_MULTIPROC_DIR, set by the entrypoint) the sum of every worker's, read from
        the files prometheus_client writes there."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return self.registry
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, path=directory)
        return combined


class RequestObserver:
    """Counts, times and logs every HTTP request; the path label is the route, never the raw URL."""

    def __init__(self, app: ASGIApp, metrics: Metrics, known_paths: set[str]) -> None:
        self.app, self.metrics, self.known_paths = app, metrics, known_paths

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def capture(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - start
            path = scope["path"] if scope["path"] in self.known_paths else "other"
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(path).observe(elapsed)
            log.info(
                json.dumps(
                    {
                        "event": "request",
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    }
                )
            )
