"""//airflow/redis:image, run with no daemon (umoci + runc) as uid 65532 on a read-only root: Redis
answers only with the password, which is in no process's argument list; its own health check
works; a placeholder password stops it with one line."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.network import free_port, is_listening, wait_for
from tests.support.oci_runtime import Container

IMAGE = Path(os.environ["REDIS_IMAGE"])
# Every character a config file or URL could trip over.
PASSWORD = 'p@ss:w/o"rd \\ ?&=%#\tend'


class Broker:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.data = workdir / "data"
        self.data.mkdir(mode=0o700)
        os.chown(self.data, 65532, 65532)
        self.container = Container(
            IMAGE,
            workdir,
            args=["/usr/bin/python3.13", "/app/redis", "--port", str(self.port), "--bind", "127.0.0.1"],
            env=env,
            volumes={"/data": self.data},
            read_only=True,
        )
        self.log = workdir / f"{self.container.name}.log"

    def client(self, password: str | None) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=password, socket_timeout=5)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = Broker(tmp_path_factory.mktemp("run"), {"REDIS_PASSWORD": PASSWORD})
    running.container.start(running.log)
    wait_for(lambda: not running.container.alive() or is_listening(running.port), timeout=60)
    assert running.container.alive(), running.log.read_text()
    yield running
    assert running.container.stop() in (0, -15, 143), running.log.read_text()[-3000:]


def test_it_answers_with_the_password_only(broker: Broker) -> None:
    client = broker.client(PASSWORD)
    client.set("queued", "task")
    assert client.get("queued") == b"task"
    for wrong in (None, "wrong"):
        with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
            broker.client(wrong).get("queued")


def test_the_password_is_in_no_argument_list(broker: Broker) -> None:
    servers = [
        proc.read_bytes()
        for proc in Path("/proc").glob("[0-9]*/cmdline")
        if proc.exists() and b"redis-server" in proc.read_bytes()
    ]
    assert servers, "no redis-server process found"
    assert not [cmdline for cmdline in servers if PASSWORD.encode() in cmdline]


def test_it_runs_as_nonroot_and_snapshots_to_its_volume(broker: Broker) -> None:
    client = broker.client(PASSWORD)
    client.save()
    assert [path.name for path in broker.data.iterdir()] == ["dump.rdb"]
    assert broker.data.joinpath("dump.rdb").stat().st_uid == 65532


def test_its_health_check_passes_with_the_password(broker: Broker) -> None:
    # The compose file's check, run beside the server (same network, same environment); extra
    # arguments go to redis-cli.
    check = Container(
        IMAGE,
        broker.container.workdir,
        args=["/usr/bin/python3.13", "/app/redis", "check", "-p", str(broker.port)],
        env={"REDIS_PASSWORD": PASSWORD},
        read_only=True,
    ).run()
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({}, "redis-entrypoint: error: REDIS_PASSWORD is not set; set REDIS_PASSWORD in airflow/.env"),
        (
            {"REDIS_PASSWORD": " "},
            "redis-entrypoint: error: REDIS_PASSWORD is empty; set REDIS_PASSWORD in airflow/.env",
        ),
        (
            {"REDIS_PASSWORD": "change-me"},
            "redis-entrypoint: error: REDIS_PASSWORD is still the placeholder from .env.example; "
            "set REDIS_PASSWORD in airflow/.env to a secret of your own",
        ),
    ],
)
def test_a_missing_or_placeholder_password_stops_it_with_one_line(tmp_path: Path, env: dict, line: str) -> None:
    result = Broker(tmp_path, env).container.run()
    assert result.returncode == 1
    assert (result.stdout + result.stderr).strip() == line
