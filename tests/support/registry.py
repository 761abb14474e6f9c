"""Debian's docker-registry, started on 127.0.0.1 with temporary storage, optionally behind htpasswd."""

import base64
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.network import free_port, wait_for_http


@dataclass
class RunningRegistry:
    address: str
    storage: Path


@contextmanager
def registry(workdir: Path, users: dict[str, str] | None = None) -> Iterator[RunningRegistry]:
    port = free_port()
    storage = workdir / f"registry-{port}"
    storage.mkdir(parents=True)
    auth = ""
    if users:
        import bcrypt

        htpasswd = storage / "htpasswd"
        htpasswd.write_text("".join(
            f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
            for user, password in users.items()))
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
    config = storage / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log = open(storage / "registry.log", "w")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v2/", expect=401 if users else 200, alive=lambda: process.poll() is None)
        yield RunningRegistry(f"127.0.0.1:{port}", storage)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def auth_file(path: Path, address: str, user: str, password: str) -> Path:
    """A containers-auth.json (the REGISTRY_AUTH_FILE format) holding one login."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {address: {"auth": token}}}))
    return path
