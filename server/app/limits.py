"""A byte limit on request bodies, applied before anything parses them."""

from collections.abc import Callable, MutableMapping
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

Scope = MutableMapping[str, Any]


class BodyLimit:
    """Answers 413 to a body over `max_bytes`: at once when Content-Length says so, else as soon as
    the bytes read pass the limit (a chunked body). FastAPI lets the HTTPException raised from
    `receive` through its body parsing, so the 413 is the app's own JSON error."""

    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _message(self) -> str:
        return f"the request body is over {self.max_bytes} bytes; send fewer records per request"

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": self._message()}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)
