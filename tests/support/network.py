"""Loopback helpers: free ports, waiting for a server, checking nothing listens."""

import contextlib
import json
import random
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A port free on 127.0.0.1 now, chosen below the kernel's ephemeral range: a port the kernel
    hands out (bind to port 0) can be taken, before its user binds it, as the source port of any
    outgoing connection on the machine. Seen: a compose stack's port, chosen before a minute of
    image loading, was taken by then ("address already in use")."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(10000, ephemeral_low), 100):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"100 random ports from 10000 to {ephemeral_low} were all taken on 127.0.0.1")


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_http(
    url: str, timeout: float = 60.0, expect: int = 200, alive=lambda: True, context: ssl.SSLContext | None = None
) -> bytes:
    """Polls url until it answers `expect`; fails early if alive() turns False. `context` is for
    https URLs whose CA is not the system's."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if not alive():
            raise AssertionError(f"the server behind {url} exited before answering")
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as answer:
                if answer.status == expect:
                    return answer.read()
                last = answer.status
        except urllib.error.HTTPError as error:
            last = error.code
            if error.code == expect:
                return error.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {expect} within {timeout:.0f} s (last: {last})")


class CountingProxy:
    """A TCP proxy on 127.0.0.1 that counts the bytes clients send through it to `target_port`, and
    notes the HTTP request lines among them, and each request's Authorization header (or None);
    with `delay`, it holds each request that long first (a slow link, so that a push outlasts a
    token). `host` is the loopback address it listens on and forwards to."""

    REQUEST = re.compile(rb"(?:^|\r\n)(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.[01]\r\n((?:[^\r\n]+\r\n)*)")
    AUTHORIZATION = re.compile(rb"^authorization:\s*(.*)$", re.IGNORECASE | re.MULTILINE)

    def __init__(self, target_port: int, delay: float = 0.0, host: str = "127.0.0.1") -> None:
        import threading

        self.target_port = target_port
        self.host = host
        self.delay = delay
        self.sent = 0
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self._lock = threading.Lock()
        self._server = socket.create_server((host, 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection((self.host, self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if count:
                    found = self.REQUEST.findall(data)
                    requests = [(method.decode(), path.decode()) for method, path, _ in found]
                    authorizations = [
                        (path.decode(), (m := self.AUTHORIZATION.search(head)) and m.group(1).strip().decode())
                        for _, path, head in found
                    ]
                    with self._lock:
                        self.sent += len(data)
                        self.requests += requests
                        self.authorizations += authorizations
                    if requests and self.delay:
                        time.sleep(self.delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()


def wait_for(probe, timeout: float = 120, interval: float = 0.5):
    """Polls probe() until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s"
        time.sleep(interval)
    return found


def get_json(url: str, headers: dict[str, str] | None = None) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as answer:
        return json.load(answer)


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)
