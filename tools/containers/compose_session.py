"""A compose stack on the build root's podman, up for as long as this process lives.

    compose_session.py [--storage DIR] [--load TARBALL]... [--private-mounts] [--remove-volumes] \
        -- COMPOSE_OPTIONS...          # e.g. -f airflow/docker-compose.yaml -p airflow

Runs in the build root (tools/compose on a host, tests/airflow:compose_up_test in Bazel):
1. starts `podman system service` on a socket of its own (printed), for docker-compose to talk to (Debian's
   podman-compose 1.3 wraps every health check in /bin/sh, which distroless images lack);
2. runs the health checks itself: podman hands them to systemd timers, and there is no systemd;
3. `docker-compose up --detach --wait`, then prints "compose-session: [N s] ready" and follows the logs;
4. on SIGINT or SIGTERM, `docker-compose down` in this same session. Each container's network
   namespace is a mount in this process's mount namespace, so only this session can tear it down.
A stack that does not become healthy is taken down again, after its logs, with exit status 1.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# tools/compose runs this file from the checkout and Bazel runs it with PYTHONSAFEPATH set: either
# way its sibling is found through this folder, put on the path explicitly.
sys.path.insert(0, str(Path(__file__).parent))
from podman_config import write_config

DEFAULT_INTERVAL = 30.0  # seconds: Docker's default health-check interval
DEFAULT_START_INTERVAL = 5.0  # seconds: Docker's default between checks during the start period
SUBCOMMANDS = {"up", "down", "start", "stop", "run", "exec", "logs", "ps", "-d", "--detach"}
STARTED = time.monotonic()  # every line of progress says how long the session has been running


def say(message: str) -> None:
    """One line of progress, with the seconds since the session started: a stack takes minutes."""
    print(f"compose-session: [{time.monotonic() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    sys.exit(f"compose-session: error: {message}")


def private_mounts() -> None:
    """Inside a Bazel test the build root is read-only: give podman writable cgroups, /run and
    /var/cache in a mount namespace of this process's own, so nothing outside the session changes."""
    os.unshare(os.CLONE_NEWNS)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    for mount in ["/sys/fs/cgroup", *sorted(str(path) for path in Path("/sys/fs/cgroup").iterdir())]:
        if os.path.ismount(mount):
            subprocess.run(["mount", "-o", "remount,bind,rw", mount], check=True)
    # /var/cache/containers holds the lock of podman's short-name cache: without it, podman's
    # Docker API cannot find `mlops-postgres:17` as localhost/mlops-postgres:17.
    for path in ("/run", "/var/cache"):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path], check=True)
    Path("/var/cache/containers").mkdir()


def use_storage(storage: Path) -> None:
    """A podman store of this session's own below `storage` (tools/podman's settings otherwise).
    Run state stays in /run: socket paths there are short enough for conmon's 108-byte limit."""
    os.environ.update(write_config(storage, graphroot=storage / "graph", runroot=Path("/run/containers/storage")))


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    # A session of its own: Ctrl-C on the terminal is for this program to handle, not for podman.
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, start_new_session=True)


@dataclass(frozen=True)
class Schedule:
    """When a container's health check runs, in seconds (Docker's defaults where the file is silent)."""

    interval: float
    start_interval: float
    start_period_ends: float  # time.monotonic() at the end of the start period

    @staticmethod
    def of(container: str) -> "Schedule | None":
        inspected = podman("inspect", "--format", "{{json .Config.Healthcheck}}", container, check=False)
        check = json.loads(inspected.stdout or "null") if inspected.returncode == 0 else None
        if not check or check.get("Test", ["NONE"])[0] == "NONE":
            return None
        seconds = {key: (check.get(key) or 0) / 1e9 for key in ("Interval", "StartInterval", "StartPeriod")}
        return Schedule(
            interval=seconds["Interval"] or DEFAULT_INTERVAL,
            start_interval=seconds["StartInterval"] or DEFAULT_START_INTERVAL,
            start_period_ends=time.monotonic() + seconds["StartPeriod"],
        )

    def next_in(self, passed_once: bool) -> float:
        starting = not passed_once and time.monotonic() < self.start_period_ends
        return self.start_interval if starting else self.interval


class HealthChecks(threading.Thread):
    """Runs each running container's health check in place of podman's systemd timers, on Docker's
    schedule: every `start_interval` (default 5 s) during the start period until it first passes, then
    every `interval` (default 30 s). Checking every 30 s from the start would leave a service that is
    up after 3 s unhealthy, and whatever depends on it waiting, for up to 30 s more.

    Containers are found from podman's event stream, one process for the whole session: polling
    `podman ps` every second cost 0.08 s of CPU a time, 8% of a core for as long as a stack ran."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.changed = threading.Event()  # a container started or stopped
        self.running: dict[str, str] = {}  # container id -> name, as the events report them
        self.lock = threading.Lock()
        self.schedules: dict[str, Schedule | None] = {}  # container -> its schedule; None: no check
        self.due: dict[str, float] = {}
        self.healthy: set[str] = set()  # containers whose check has passed once
        self.events = subprocess.Popen(
            ["podman", "events", "--filter", "type=container", "--format", "{{.Status}} {{.ID}} {{.Name}}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._follow_events, daemon=True).start()
        # Whatever was running before the stream began (the stream shows only new events).
        for line in podman("ps", "--format", "{{.ID}} {{.Names}}", "--no-trunc", check=False).stdout.splitlines():
            container, name = line.split(" ", 1)
            with self.lock:
                self.running.setdefault(container, name)

    def _follow_events(self) -> None:
        assert self.events.stdout is not None
        for line in self.events.stdout:
            status, _, rest = line.strip().partition(" ")
            container, _, name = rest.partition(" ")
            with self.lock:
                if status == "start":
                    self.running[container] = name
                elif status in ("died", "remove"):
                    self.running.pop(container, None)
            self.changed.set()

    def run(self) -> None:
        while not self.stopped.is_set():
            # Cleared before the snapshot, not after the wait: a container that starts in between
            # sets it again, and the next wait returns at once instead of missing it.
            self.changed.clear()
            with self.lock:
                running = dict(self.running)
            for container, name in running.items():
                if container not in self.schedules:
                    self.schedules[container] = Schedule.of(container)
                    self.due[container] = time.monotonic()  # the first check at once
                schedule = self.schedules[container]
                if schedule is None or time.monotonic() < self.due[container]:
                    continue
                if (
                    podman("healthcheck", "run", container, check=False).returncode == 0
                    and container not in self.healthy
                ):
                    self.healthy.add(container)
                    say(f"{name} is healthy")
                self.due[container] = time.monotonic() + schedule.next_in(container in self.healthy)
            pending = [self.due[c] for c in running if self.schedules.get(c) is not None]
            wait = min(pending, default=time.monotonic() + 60) - time.monotonic()
            self.changed.wait(max(wait, 0.05))

    def stop(self) -> None:
        self.stopped.set()
        self.changed.set()
        self.events.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--storage", type=Path, help="keep images, containers and networks here (default: the caller's podman settings)"
    )
    parser.add_argument("--load", type=Path, action="append", default=[], help="`podman load` this tarball first")
    parser.add_argument(
        "--private-mounts",
        action="store_true",
        help="writable cgroups, /run and /var/cache in a mount namespace of its own (Bazel tests)",
    )
    parser.add_argument("--remove-volumes", action="store_true", help="`down --volumes` at the end")
    parser.add_argument("compose", nargs=argparse.REMAINDER, help="docker-compose's global options, after --")
    args = parser.parse_args()
    compose_options = [option for option in args.compose if option != "--"]
    commands = SUBCOMMANDS.intersection(compose_options)
    if commands:
        fail(
            f"give docker-compose's global options only (-f, -p, --env-file), not {sorted(commands)[0]!r}: "
            "the session runs up and down itself"
        )

    # A missing file, a bad option or a missing env file: say so before anything starts.
    config = subprocess.run(["docker-compose", *compose_options, "config", "--quiet"], capture_output=True, text=True)
    if config.returncode != 0:
        fail(f"docker-compose {' '.join(compose_options)}: {config.stderr.strip().splitlines()[-1]}")

    if args.private_mounts:
        private_mounts()
    if args.storage:
        use_storage(args.storage.resolve())
    for tarball in args.load:
        loaded = podman("load", "--input", str(tarball), check=False)
        if loaded.returncode != 0:
            fail(f"podman load {tarball} failed: {loaded.stderr.strip()}")
        say(loaded.stdout.strip().splitlines()[-1])

    socket_dir = Path(tempfile.mkdtemp(prefix="podman-api-", dir="/run"))
    os.environ["DOCKER_HOST"] = f"unix://{socket_dir}/podman.sock"
    # Kept out of the terminal's process group, so that Ctrl-C leaves it up for `down`.
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", os.environ["DOCKER_HOST"]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not (socket_dir / "podman.sock").exists():
        if service.poll() is not None or time.monotonic() > deadline:
            fail("podman system service did not start; run `tools/podman info` to see why")
        time.sleep(0.1)
    # Another docker-compose in this mount namespace (`nsenter --mount`) can change the running
    # stack through this socket, e.g. `up --detach --wait` after an edit to the env file.
    say(f"podman's Docker API: DOCKER_HOST={os.environ['DOCKER_HOST']}")

    health_checks = HealthChecks()
    health_checks.start()
    compose = ["docker-compose", *compose_options]
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    status = 0
    try:
        say("docker-compose up --detach --wait (health checks included; this takes a while)")
        if subprocess.run([*compose, "up", "--detach", "--wait"]).returncode != 0:
            status = 1
            if not stop.is_set():
                subprocess.run([*compose, "logs", "--tail", "40"])
                say(
                    "the stack did not come up healthy (an image not loaded? `tools/bazel run //airflow:image_load` "
                    "and `//airflow/postgres:image_load`): its logs are above; taking it down again"
                )
        else:
            say("ready: Ctrl-C (SIGINT) or SIGTERM takes the stack down")
            logs = subprocess.Popen([*compose, "logs", "--follow", "--since", "1s"], start_new_session=True)
            stop.wait()
            logs.terminate()
    finally:
        down = [*compose, "down", *(["--volumes"] if args.remove_volumes else [])]
        say(" ".join(["docker-compose", *down[len(compose) :]]))
        if subprocess.run(down, start_new_session=True).returncode != 0:
            status = 1
        health_checks.stop()
        service.terminate()
        service.wait(timeout=30)
    sys.exit(status)


if __name__ == "__main__":
    main()
