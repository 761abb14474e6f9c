"""A tiny HTTP service: the smallest real user of the OCI rules and py_image_layers.

GET / answers a greeting; GET /metrics answers Prometheus text (from the pip-installed
prometheus_client, so the image carries a third-party layer too). `hello.py --check` prints what
the image's Python can do and exits, for tests that run the image without a network.
"""

import argparse
import json
import os
import signal
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prometheus_client

GREETINGS = prometheus_client.Counter("hello_greetings", "Greetings served")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/metrics":
            body, kind = prometheus_client.generate_latest(), prometheus_client.CONTENT_TYPE_LATEST
        else:
            GREETINGS.inc()
            body, kind = b"hello from a distroless image\n", "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def check() -> dict[str, object]:
    import ctypes  # noqa: F401 (importing is the check: each needs a shared library from a .deb)
    import lzma  # noqa: F401
    import sqlite3
    import zlib  # noqa: F401

    context = ssl.create_default_context()
    return {
        "uid": os.getuid(),
        "python": sys.version.split()[0],
        "ca_certificates": context.cert_store_stats()["x509_ca"],
        "prometheus_client": prometheus_client.__file__,
        "sqlite": sqlite3.sqlite_version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print a JSON self-check and exit")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args()
    if args.check:
        print(json.dumps(check()))
        return
    # As PID 1 in a container, Python would ignore SIGTERM: stop cleanly on it instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer(("0.0.0.0", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
