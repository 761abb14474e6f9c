"""airflow/docker-compose.yaml brought up by tools/containers/compose_session.py, as tools/compose
does on a machine with no container engine, but with a podman store and mount namespace of its own
(needs the build root's real root user: `no-sandbox` tests, or `bazel run`)."""

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.network import free_port, wait_for


@dataclass
class ComposeStack:
    port: int  # the api-server's, on 127.0.0.1
    log: Path
    started: float = field(default_factory=time.monotonic)
    loaded: float = 0.0  # when the last image was loaded
    ready: float = 0.0  # when every service was healthy
    exit_code: int | None = None  # the session's, once it has taken the stack down

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def env_file(example: Path, settings: dict[str, str]) -> str:
    """The example env file with `settings` in place of its values."""
    lines = []
    for line in example.read_text().splitlines():
        name = line.split("=")[0]
        lines.append(f"{name}={settings[name]}" if name in settings and not line.startswith("#") else line)
    return "\n".join(lines) + "\n"


@contextmanager
def compose_stack(
    workdir: Path, session: Path, compose: Path, env_example: Path, tarballs: list[Path], settings: dict[str, str]
) -> Iterator[ComposeStack]:
    """Yields once every service is healthy; takes the stack down (volumes too) on the way out.
    Keep the store on disk (e.g. under TEST_TMPDIR): the Airflow image is 0.9 GB unpacked."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "docker-compose.yaml").write_text(compose.read_text())
    stack = ComposeStack(port=free_port(), log=workdir / "session.log")
    (workdir / ".env").write_text(env_file(env_example, {**settings, "AIRFLOW_API_PORT": str(stack.port)}))
    command = [
        sys.executable,
        str(session),
        "--storage",
        str(workdir / "podman"),
        "--private-mounts",
        "--remove-volumes",
        *[argument for tarball in tarballs for argument in ("--load", str(tarball))],
        "--",
        "-f",
        str(workdir / "docker-compose.yaml"),
        "-p",
        f"compose-test-{uuid.uuid4().hex[:6]}",
    ]
    with open(stack.log, "w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)

    def progress() -> bool:
        text = stack.log.read_text()
        if not stack.loaded and text.count("Loaded image") == len(tarballs):
            stack.loaded = time.monotonic()
        if "compose-session: ready" in text:
            stack.ready = time.monotonic()
        return bool(stack.ready) or process.poll() is not None

    try:
        wait_for(progress, timeout=1200, interval=0.2)
        assert stack.ready, stack.log.read_text()[-6000:]
        yield stack
    finally:
        process.send_signal(signal.SIGTERM)
        stack.exit_code = process.wait(timeout=600)
