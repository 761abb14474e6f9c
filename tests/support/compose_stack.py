"""airflow/docker-compose.yaml brought up by tools/containers/compose_session.py, as tools/compose
does on a machine with no container engine, but with a podman store and mount namespace of its own
(needs the build root's real root user: `no-sandbox` tests, or `bazel run`)."""

import base64
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.network import free_port, wait_for
from tests.support.tmpfs import private_tmpfs
from tools.containers.podman_config import settings_env

# libpod's tables of containers and named volumes (podman's SQLite state, in its graph root).
STATE_TABLES = ("ContainerConfig", "VolumeConfig")
# The host ports the compose file publishes on 127.0.0.1, by the variable that sets each.
PORTS = ("AIRFLOW_API_PORT", "S3_PORT", "MLFLOW_PORT", "SERVER_PORT")


def fresh_secrets() -> dict[str, str]:
    """A value for every change-me secret of airflow/.env.example; the database password holds
    characters a URL must encode, as a user's may."""
    return {
        "POSTGRES_PASSWORD": "p@ss:w/rd%?&=" + uuid.uuid4().hex,
        "AIRFLOW_JWT_SECRET": uuid.uuid4().hex * 2,
        "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW_ADMIN_PASSWORD": uuid.uuid4().hex,
        "AWS_SECRET_ACCESS_KEY": uuid.uuid4().hex,
        "REDIS_PASSWORD": "r@dis:/%?&=" + uuid.uuid4().hex,
    }


@dataclass
class ComposeStack:
    ports: dict[str, int]  # PORTS -> the free port given to each
    settings: dict[str, str]  # every variable the stack's .env sets
    workdir: Path  # holds the compose file, its .env, the session's log and its podman store
    project: str  # docker-compose's project name
    session_pid: int = 0
    started: float = field(default_factory=time.monotonic)
    loaded: float = 0.0  # when the last image was loaded
    ready: float = 0.0  # when every service was healthy
    exit_code: int | None = None  # the session's, once it has taken the stack down

    @property
    def port(self) -> int:
        return self.ports["AIRFLOW_API_PORT"]

    @property
    def url(self) -> str:
        """The Airflow api-server's."""
        return self.url_of("AIRFLOW_API_PORT")

    def url_of(self, port: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}"

    @property
    def log(self) -> Path:
        return self.workdir / "session.log"

    @property
    def storage(self) -> Path:
        """The session's podman store."""
        return self.workdir / "podman"

    @property
    def compose_options(self) -> list[str]:
        """docker-compose's global options for this stack (its .env is found beside the file)."""
        return ["-f", str(self.workdir / "docker-compose.yaml"), "-p", self.project]

    def _podman_env(self) -> dict[str, str]:
        return {"PATH": os.environ["PATH"], **settings_env(self.storage)}

    def _podman(self, *args: str) -> subprocess.CompletedProcess:
        command = ["nsenter", f"--target={self.session_pid}", "--mount", "--", "podman", *args]
        return subprocess.run(command, env=self._podman_env(), capture_output=True, text=True, check=True)

    def reconfigure(self, **settings: str) -> None:
        """These settings in place of the .env's, applied as a user would: `docker-compose up
        --detach --wait` on the running stack, which recreates the services whose configuration
        changed and returns once they are healthy again."""
        dotenv = self.workdir / ".env"
        dotenv.write_text(env_file(dotenv, settings))
        self.settings = env_settings(dotenv.read_text())
        docker_host = re.search(r"podman's Docker API: DOCKER_HOST=(\S+)", self.log.read_text())
        assert docker_host, "the session has not said where its Docker API is"
        compose = ["docker-compose", *self.compose_options, "up", "--detach", "--wait"]
        command = ["nsenter", f"--target={self.session_pid}", "--mount", "--", *compose]
        environment = {**os.environ, "DOCKER_HOST": docker_host[1]}
        up = subprocess.run(command, cwd=self.workdir, env=environment, capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stderr[-4000:]

    def podman(self, *args: str) -> str:
        """`podman ARGS` on the session's store, in its mount namespace (where its /run is): its
        standard output."""
        return self._podman(*args).stdout

    def logs(self, container: str) -> str:
        """What the container wrote, both streams (podman logs keeps them apart)."""
        written = self._podman("logs", container)
        return written.stdout + written.stderr

    def leftovers(self) -> dict[str, int]:
        """After the session: how many containers, volumes and networks its store still holds,
        read from podman's own records (its SQLite state and its network files), since podman
        itself cannot run without the session's /run."""
        with closing(sqlite3.connect(self.storage / "graph" / "db.sql")) as state:
            count = {table: state.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in STATE_TABLES}
        return {
            "containers": count["ContainerConfig"],
            "volumes": count["VolumeConfig"],
            "networks": len(list((self.storage / "networks").glob("*.json"))),
        }

    def containers(self, service: str) -> list[str]:
        """The ids of the service's running containers (one per replica)."""
        return self.podman("ps", "--quiet", "--filter", f"label=com.docker.compose.service={service}").split()


def env_settings(text: str) -> dict[str, str]:
    """The NAME=value lines of an env file (comments left out)."""
    lines = [line for line in text.splitlines() if "=" in line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def env_file(example: Path, settings: dict[str, str]) -> str:
    """The example env file with `settings` in place of its values."""
    lines = []
    for line in example.read_text().splitlines():
        name = line.split("=")[0]
        lines.append(f"{name}={settings[name]}" if name in settings and not line.startswith("#") else line)
    return "\n".join(lines) + "\n"


@contextmanager
def compose_stack(
    workdir: Path,
    session: Path,
    compose: Path,
    env_example: Path,
    tarballs: list[Path],
    settings: dict[str, str],
) -> Iterator[ComposeStack]:
    """Yields once every service is healthy; takes the stack down (volumes too) on the way out.
    `settings` override the example's values, on top of fresh secrets and free ports.
    The podman store is workdir/podman, with `tarballs` loaded into it first. It is a tmpfs of
    this process's mount namespace (in RAM: the Airflow image alone is 0.9 GB unpacked), so keep
    workdir itself on disk (e.g. under TEST_TMPDIR), apart from the root's shared /tmp."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "docker-compose.yaml").write_text(compose.read_text())
    ports = {name: free_port() for name in PORTS}
    settings = {**fresh_secrets(), **{name: str(port) for name, port in ports.items()}, **settings}
    text = env_file(env_example, settings)
    (workdir / ".env").write_text(text)
    stack = ComposeStack(
        ports=ports,
        settings=env_settings(text),
        workdir=workdir,
        project=f"compose-test-{uuid.uuid4().hex[:6]}",
    )
    private_tmpfs(stack.storage)
    command = [
        sys.executable,
        str(session),
        "--storage",
        str(stack.storage),
        "--private-mounts",
        "--remove-volumes",
        *[argument for tarball in tarballs for argument in ("--load", str(tarball))],
        "--",
        *stack.compose_options,
    ]
    with open(stack.log, "w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    stack.session_pid = process.pid

    def progress() -> bool:
        text = stack.log.read_text()
        if not stack.loaded and text.count("Loaded image") == len(tarballs):
            stack.loaded = time.monotonic()
        if re.search(r"^compose-session: \[.*\] ready", text, re.MULTILINE):
            stack.ready = time.monotonic()
        return bool(stack.ready) or process.poll() is not None

    try:
        wait_for(progress, timeout=1200, interval=0.2)
        assert stack.ready, stack.log.read_text()[-6000:]
        yield stack
    finally:
        process.send_signal(signal.SIGTERM)
        stack.exit_code = process.wait(timeout=600)
