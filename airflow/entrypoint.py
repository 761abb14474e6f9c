"""The Airflow image's entrypoint: `airflow ARGS...`, with no shell in the image.

    entrypoint.py api-server          # what the compose file's services run
    entrypoint.py scheduler --skip-serve-logs

Before the command, and only when asked through the environment:
- AIRFLOW_DB_MIGRATE=true: `airflow db migrate` first (for a single container; the compose file
  runs it as its airflow-init service instead);
- AIRFLOW_ADMIN_USERNAME and AIRFLOW_ADMIN_PASSWORD: an admin login for Airflow 3's simple auth
  manager, written to a passwords file under AIRFLOW_HOME (never into the image).
Then Airflow replaces this process (exec), so it receives the container's signals itself.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

TRUE = {"1", "true", "yes", "on"}


def airflow_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def configure_admin(env: dict[str, str]) -> None:
    user, password = env.get("AIRFLOW_ADMIN_USERNAME"), env.get("AIRFLOW_ADMIN_PASSWORD")
    if not user and not password:
        return
    if not (user and password):
        sys.exit("airflow-entrypoint: error: set both AIRFLOW_ADMIN_USERNAME and AIRFLOW_ADMIN_PASSWORD, or neither")
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
        sys.exit("airflow-entrypoint: error: name an airflow command, e.g. api-server, scheduler or dag-processor")
    configure_admin(dict(os.environ))
    if os.environ.get("AIRFLOW_DB_MIGRATE", "").lower() in TRUE:
        print("airflow-entrypoint: airflow db migrate", file=sys.stderr, flush=True)
        migrated = subprocess.run(airflow_command(["db", "migrate"]))
        if migrated.returncode != 0:
            sys.exit(
                f"airflow-entrypoint: error: airflow db migrate failed ({migrated.returncode}); check AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
            )
    command = airflow_command(args)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
