"""The metadata database image's entrypoint: a first start creates the cluster, then PostgreSQL
replaces this process (exec), so it receives the container's signals itself.

The environment follows the official postgres image, so compose files need no change:
- POSTGRES_PASSWORD (required, not blank, not the `change-me` placeholder of airflow/.env.example):
  the password of POSTGRES_USER, checked with scram-sha-256 over TCP;
- POSTGRES_USER (default `postgres`): the superuser initdb creates;
- POSTGRES_DB (default: POSTGRES_USER): a database created on the first start;
- POSTGRES_EXTRA_DATABASES (this image's own, optional): more databases for POSTGRES_USER,
  comma-separated, created on the first start too (the compose stack's MLflow gets one);
- PGDATA (default /var/lib/postgresql/data): the cluster, normally a volume.
Arguments go to `postgres`, after `-c listen_addresses=*`, e.g. `-c max_connections=50`.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from entrypoint import secrets

BIN = Path("/usr/lib/postgresql/17/bin")


def fail(message: str) -> None:
    sys.exit(f"postgres-entrypoint: error: {message}")


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def run(command: list[str], stdin: str | None = None) -> None:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    # Single-user mode reports a failed command on stderr and still exits 0.
    if result.returncode != 0 or "ERROR:" in result.stderr:
        lines = (result.stderr or result.stdout).strip().splitlines() or [f"exit code {result.returncode}"]
        detail = next((line for line in lines if "error" in line.lower()), lines[-1])
        raise RuntimeError(f"{Path(command[0]).name} failed: {detail}")


def initialise(data: Path, user: str, password: str, databases: list[str]) -> None:
    """initdb, TCP logins by password, and the first database. On failure the half-made cluster is
    removed again, so the next start retries from scratch instead of serving without POSTGRES_DB."""
    print(
        f"postgres-entrypoint: creating a cluster in {data} (user {user}, databases {', '.join(databases)})",
        file=sys.stderr,
        flush=True,
    )
    with tempfile.NamedTemporaryFile("w", prefix="pwfile-") as pwfile:
        pwfile.write(password + "\n")
        pwfile.flush()
        try:
            run(
                [
                    str(BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    user,
                    f"--pwfile={pwfile.name}",
                    "-E",
                    "UTF8",
                    # The image has no locale files: C for the OS, PostgreSQL's own UTF-8 character classes.
                    "--locale=C",
                    "--locale-provider=builtin",
                    "--builtin-locale=C.UTF-8",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ]
            )
            with open(data / "pg_hba.conf", "a") as hba:
                hba.write("# Other containers on the compose network.\nhost all all all scram-sha-256\n")
            # Single-user mode: nothing listens yet, so no client can see a cluster without its
            # databases. One session per database: CREATE DATABASE refuses a multi-command string.
            for name in databases:
                if name != "postgres":
                    run(
                        [str(BIN / "postgres"), "--single", "-D", str(data), "-j", "postgres"],
                        stdin=f"CREATE DATABASE {quote_identifier(name)} OWNER {quote_identifier(user)};\n",
                    )
        except RuntimeError as error:
            for child in data.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            fail(f"{error}; the cluster in {data} was removed, so the next start tries again")


def main() -> None:
    env = os.environ
    data = Path(env.get("PGDATA", "/var/lib/postgresql/data"))
    user = env.get("POSTGRES_USER") or "postgres"
    if os.getuid() == 0:
        fail("PostgreSQL refuses to run as root: run the image as its own user (65532), not --user root")
    if not (data / "PG_VERSION").exists():
        password = env.get("POSTGRES_PASSWORD", "")
        problem = secrets.refusal(env, {"POSTGRES_PASSWORD": "POSTGRES_PASSWORD"})
        if not password or problem:
            fail(problem or "set POSTGRES_PASSWORD: it becomes the password of POSTGRES_USER in the new cluster")
        if data.exists() and any(data.iterdir()):
            fail(f"{data} is neither empty nor a PostgreSQL cluster: mount an empty volume, or point PGDATA at one")
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        extra = [name.strip() for name in env.get("POSTGRES_EXTRA_DATABASES", "").split(",") if name.strip()]
        databases = list(dict.fromkeys([env.get("POSTGRES_DB") or user, *extra]))
        initialise(data, user, password, databases)
    command = [str(BIN / "postgres"), "-D", str(data), "-c", "listen_addresses=*", *sys.argv[1:]]
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
