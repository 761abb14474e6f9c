"""The baseline for bench/serve: the same pipeline behind a bare ASGI callable, with no framework,
no validation, no metrics and no logging. Run inside the server image by bench/serve.py."""

import json
import os
from pathlib import Path

from server.model import artifacts, pipeline

TRANSFORMER, MODEL, _, _ = artifacts.load(Path(os.environ["BARE_ARTIFACTS"]), Path(os.environ["BARE_POINTERS"]))
CLASSES = [str(label) for label in MODEL.classes_]


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, payload = 200, b'{"ready": true}'
    if scope["path"] == "/predict":
        rows = pipeline.predict_proba(TRANSFORMER, MODEL, json.loads(body)["records"])
        payload = json.dumps(
            {
                "predictions": [
                    {
                        "species": CLASSES[row.argmax()],
                        "probabilities": dict(zip(CLASSES, map(float, row), strict=True)),
                    }
                    for row in rows
                ]
            }
        ).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})
