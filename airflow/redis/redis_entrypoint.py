"""The broker image's entrypoint: Redis with a password, and the health check of the same image.

    redis_entrypoint.py [REDIS-SERVER ARGS...]   # the server, in /data
    redis_entrypoint.py check [REDIS-CLI ARGS]   # exit 0 when the server answers PING

REDIS_PASSWORD is required, not blank and not the `change-me` placeholder of airflow/.env.example;
otherwise one line names it, and exit 1. The server reads its configuration, password included,
from standard input (`redis-server -`), so the password is in no argument list, and replaces this
process (exec), so it receives the container's signals itself. `check` gives redis-cli the
password through REDISCLI_AUTH, for the same reason.
"""

import os
import subprocess
import sys
from typing import NoReturn

from entrypoint import secrets

SERVER = "/usr/bin/redis-server"
CLI = "/usr/bin/redis-cli"
SECRETS = {"REDIS_PASSWORD": "REDIS_PASSWORD in airflow/.env"}


def fail(message: str) -> NoReturn:
    sys.exit(f"redis-entrypoint: error: {message}")


def quoted(value: str) -> str:
    """A Redis configuration string: double quotes, every byte but letters and digits as \\xHH,
    so no character of a password can end the string or the line."""
    return '"' + "".join(chr(b) if chr(b).isalnum() else f"\\x{b:02x}" for b in value.encode()) + '"'


def configuration(password: str) -> str:
    return "\n".join(
        [
            f"requirepass {quoted(password)}",
            "dir /data",
            # The default ("", from the environment) needs locale files the image does not have.
            "locale-collate C",
            # A snapshot now and then keeps queued tasks across a restart.
            "save 60 100",
            "",
        ]
    )


def password() -> str:
    problem = secrets.refusal(os.environ, SECRETS)
    if problem:
        fail(problem)
    value = os.environ.get("REDIS_PASSWORD")
    if value is None:
        fail("REDIS_PASSWORD is not set; set REDIS_PASSWORD in airflow/.env")
    return value


def check(args: list[str]) -> NoReturn:
    env = {**os.environ, "REDISCLI_AUTH": password()}
    answer = subprocess.run([CLI, *args, "ping"], env=env, capture_output=True, text=True, timeout=10)
    sys.exit(0 if answer.stdout.strip() == "PONG" else 1)


def serve(args: list[str]) -> NoReturn:
    read, write = os.pipe()
    # The configuration is far below a pipe's buffer, so this write never blocks.
    os.write(write, configuration(password()).encode())
    os.close(write)
    os.dup2(read, 0)
    os.close(read)
    os.execv(SERVER, [SERVER, "-", *args])


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["check"]:
        check(args[1:])
    serve(args)


if __name__ == "__main__":
    main()
