"""The Airflow image's entrypoint: `airflow ARGS...`, with no shell in the image.

    entrypoint.py api-server          # what the compose file's services run
    entrypoint.py scheduler --skip-serve-logs
    entrypoint.py check-celery-worker # the worker's health check: it answers Celery's ping, asked
                                      # through the broker without importing Airflow
    entrypoint.py check-job JOB_TYPE  # DagProcessorJob or TriggererJob: `airflow jobs check --local`
                                      # in one query, without importing Airflow (3 s of CPU a call)

Before the command:
- every secret it is given must be set and not a `change-me` placeholder of airflow/.env.example,
  and a Fernet key must be one; otherwise one line names the variable, and exit 1;
- AIRFLOW_DB_HOST (with AIRFLOW_DB_USER, AIRFLOW_DB_PASSWORD, AIRFLOW_DB_NAME, optional
  AIRFLOW_DB_PORT): the metadata database's URL is built from them, each part URL-encoded, so a
  password may hold any character (compose cannot encode one);
- AIRFLOW_REDIS_HOST (with AIRFLOW_REDIS_PASSWORD, optional AIRFLOW_REDIS_PORT): CeleryExecutor's
  broker URL, built the same way; its result backend is the metadata database;
- `celery worker` when AIRFLOW__CORE__EXECUTOR is not CeleryExecutor (a laptop on LocalExecutor):
  one line, then it idles until SIGTERM or SIGINT and exits 0, and `check-celery-worker` passes:
  the compose file's worker service stays up and healthy, doing nothing, so `up --wait` (which
  fails on a service that exits, even with 0) works on either executor;
- AIRFLOW_DB_MIGRATE=true: `airflow db migrate` first (for a single container; the compose file
  runs it as its airflow-init service instead);
- AIRFLOW_ADMIN_USERNAME and AIRFLOW_ADMIN_PASSWORD: an admin login for Airflow 3's simple auth
  manager, written to a passwords file under AIRFLOW_HOME (never into the image).
Then Airflow replaces this process (exec), so it receives the container's signals itself.
"""

import base64
import binascii
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

from entrypoint import secrets

TRUE = {"1", "true", "yes", "on"}
# Each secret the container may get -> the airflow/.env variable that fills it, for the message.
SECRETS = {
    "AIRFLOW_DB_PASSWORD": "POSTGRES_PASSWORD in airflow/.env",
    "AIRFLOW_REDIS_PASSWORD": "REDIS_PASSWORD in airflow/.env",
    "AIRFLOW__API_AUTH__JWT_SECRET": "AIRFLOW_JWT_SECRET in airflow/.env",
    "AIRFLOW__CORE__FERNET_KEY": "AIRFLOW_FERNET_KEY in airflow/.env",
    "AIRFLOW_ADMIN_PASSWORD": "AIRFLOW_ADMIN_PASSWORD in airflow/.env",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY in airflow/.env",
}
# Seconds the worker's health check waits for the broker, and then for the worker's answer.
PING_TIMEOUT = 5.0
NEW_FERNET_KEY = 'python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'


# `airflow jobs check`'s thresholds: a job is alive while it has heartbeated within this many seconds.
JOB_THRESHOLDS = {
    "DagProcessorJob": ("AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD", 30.0),
    "TriggererJob": ("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD", 30.0),
}


def airflow_hostname() -> str:
    """What Airflow records as a job's hostname: its default [core] hostname_callable,
    airflow.utils.net.getfqdn (the canonical name of this host, else its name)."""
    name = socket.gethostname()
    try:
        addresses = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
    except OSError:
        return name
    return next((address[3] for address in addresses if address[3]), name)


def check_job(job_type: str, database_url: str) -> NoReturn:
    """Exits 0 when this host's latest running `job_type` has heartbeated within Airflow's threshold
    for it, as `airflow jobs check --job-type JOB_TYPE --local` does; else one line and exit 1."""
    if job_type not in JOB_THRESHOLDS:
        fail(f"check-job takes one of {', '.join(JOB_THRESHOLDS)}, not {job_type!r}")
    variable, default = JOB_THRESHOLDS[job_type]
    try:
        threshold = float(os.environ.get(variable) or default)
    except ValueError:
        fail(f"{variable} must be a number of seconds, not {os.environ[variable]!r}")
    import sqlalchemy  # here, not at the top: only this check needs it (0.2 s of CPU)

    query = sqlalchemy.text(
        "SELECT latest_heartbeat FROM job WHERE job_type = :job_type AND hostname = :hostname"
        " AND state = 'running' ORDER BY latest_heartbeat DESC LIMIT 1"
    ).columns(latest_heartbeat=sqlalchemy.DateTime(timezone=True))  # SQLite returns text otherwise
    engine = sqlalchemy.create_engine(database_url, poolclass=sqlalchemy.pool.NullPool)
    hostname = airflow_hostname()
    try:
        with engine.connect() as connection:
            heartbeat = connection.execute(query, {"job_type": job_type, "hostname": hostname}).scalar()
    except sqlalchemy.exc.SQLAlchemyError as error:
        sys.exit(f"airflow-entrypoint: check-job: querying the metadata database failed ({type(error).__name__})")
    if heartbeat is not None:
        # SQLite keeps naive UTC times; PostgreSQL returns aware ones.
        heartbeat = heartbeat if heartbeat.tzinfo else heartbeat.replace(tzinfo=UTC)
        if (datetime.now(UTC) - heartbeat).total_seconds() < threshold:
            sys.exit(0)
    sys.exit(f"airflow-entrypoint: check-job: no running {job_type} on {hostname} heartbeated in {threshold:g} s")


def check_celery_worker(broker_url: str) -> NoReturn:
    """Exits 0 when this container's worker (Airflow names it celery@<hostname>) answers Celery's
    ping through the broker, as `celery --app <Airflow's app> inspect ping` does; else one line and
    exit 1. A bare Celery app asks: Airflow's broker options (a visibility timeout) do not touch
    the broadcast a ping is, and importing Airflow cost 1.3 CPU-s a check, each worker every 30 s."""
    from celery import Celery  # here, not at the top: only this check needs it (0.2 s of CPU)

    worker = f"celery@{socket.gethostname()}"
    app = Celery(broker=broker_url, set_as_current=False)
    app.conf.update(
        accept_content=["json"],
        broker_connection_timeout=PING_TIMEOUT,
        broker_connection_retry=False,
        broker_connection_max_retries=0,
    )
    try:
        replies = app.control.ping(destination=[worker], timeout=PING_TIMEOUT)
    except Exception as error:  # kombu's and redis's connection errors share no base class
        sys.exit(f"airflow-entrypoint: check-celery-worker: the broker did not answer ({type(error).__name__})")
    if any(worker in reply for reply in replies):
        sys.exit(0)
    sys.exit(f"airflow-entrypoint: check-celery-worker: {worker} did not answer a ping in {PING_TIMEOUT:g} s")


def airflow_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def fail(message: str) -> NoReturn:
    sys.exit(f"airflow-entrypoint: error: {message}")


def check_secrets(env: dict[str, str]) -> None:
    problem = secrets.refusal(env, SECRETS)
    if problem:
        fail(problem)
    fernet = env.get("AIRFLOW__CORE__FERNET_KEY")
    if fernet:
        try:
            valid = len(base64.urlsafe_b64decode(fernet.encode())) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            fail(
                f"AIRFLOW__CORE__FERNET_KEY is not a Fernet key; set AIRFLOW_FERNET_KEY to the output of {NEW_FERNET_KEY}"
            )


def idle() -> NoReturn:
    """A Celery worker's place on another executor: nothing to do until the container stops."""
    print(
        "airflow-entrypoint: AIRFLOW__CORE__EXECUTOR is not CeleryExecutor, so this worker idles until stopped",
        file=sys.stderr,
        flush=True,
    )
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def configure_celery(env: dict[str, str], database_url: str | None) -> None:
    host = env.get("AIRFLOW_REDIS_HOST")
    if host:
        password = env.get("AIRFLOW_REDIS_PASSWORD")
        if not password:
            fail("AIRFLOW_REDIS_HOST is set, but AIRFLOW_REDIS_PASSWORD is not; set REDIS_PASSWORD in airflow/.env")
        port = env.get("AIRFLOW_REDIS_PORT") or 6379
        os.environ["AIRFLOW__CELERY__BROKER_URL"] = f"redis://:{quote(password, safe='')}@{host}:{port}/0"
    if database_url:
        # Celery's database result backend, in SQLAlchemy's terms (its "db+" prefix).
        os.environ["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + database_url


def configure_admin(env: dict[str, str]) -> None:
    user, password = env.get("AIRFLOW_ADMIN_USERNAME"), env.get("AIRFLOW_ADMIN_PASSWORD")
    if not user and not password:
        return
    if not (user and password):
        fail("set both AIRFLOW_ADMIN_USERNAME and AIRFLOW_ADMIN_PASSWORD, or neither")
    home = Path(env.get("AIRFLOW_HOME", "/tmp/airflow"))
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({user: password}))
    passwords.chmod(0o600)
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = f"{user}:admin"
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)


def main() -> None:
    args = sys.argv[1:]
    if not args:
        fail("name an airflow command, e.g. api-server, scheduler or dag-processor")
    check_secrets(dict(os.environ))
    try:
        url = secrets.database_url(os.environ, "AIRFLOW_DB", "postgresql+psycopg2")
    except ValueError as error:
        fail(str(error))
    if url:
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
    celery = os.environ.get("AIRFLOW__CORE__EXECUTOR", "") == "CeleryExecutor"
    if args[:2] == ["celery", "worker"] and not celery:
        idle()
    if args == ["check-celery-worker"] and not celery:
        sys.exit(0)
    if args[:1] == ["check-job"]:
        database_url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        if len(args) != 2 or not database_url:
            fail("check-job needs one job type and the metadata database (AIRFLOW_DB_HOST and its settings)")
        check_job(args[1], database_url)
    configure_celery(dict(os.environ), url)
    if args == ["check-celery-worker"]:
        broker = os.environ.get("AIRFLOW__CELERY__BROKER_URL")
        if not broker:
            fail("check-celery-worker needs the broker (AIRFLOW_REDIS_HOST and its password)")
        check_celery_worker(broker)
    configure_admin(dict(os.environ))
    if os.environ.get("AIRFLOW_DB_MIGRATE", "").lower() in TRUE:
        print("airflow-entrypoint: airflow db migrate", file=sys.stderr, flush=True)
        migrated = subprocess.run(airflow_command(["db", "migrate"]))
        if migrated.returncode != 0:
            fail(f"airflow db migrate failed ({migrated.returncode}); check the metadata database's settings")
    command = airflow_command(args)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
