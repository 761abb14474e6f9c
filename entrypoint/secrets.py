"""What each image entrypoint of the compose stack checks of its secrets before it starts
anything, and the database URLs it builds from them. Standard library only, so that the
Airflow, MLflow and PostgreSQL images (on either pip hub, or none) can use it."""

from collections.abc import Mapping
from urllib.parse import quote

# How every secret in airflow/.env.example starts: a value nobody chose.
PLACEHOLDER = "change-me"


def refusal(env: Mapping[str, str], secrets: Mapping[str, str]) -> str | None:
    """The first problem among the `secrets` that `env` sets (name -> where the user sets it),
    as one line, or None. A secret that is not set at all is the caller's to require."""
    for name, source in secrets.items():
        value = env.get(name)
        if value is None:
            continue
        if not value.strip():
            return f"{name} is empty; set {source}"
        if value.startswith(PLACEHOLDER):
            return f"{name} is still the placeholder from .env.example; set {source} to a secret of your own"
    return None


def database_url(env: Mapping[str, str], prefix: str, scheme: str) -> str | None:
    """SCHEME://USER:PASSWORD@HOST:PORT/NAME from PREFIX_HOST, PREFIX_PORT (5432), PREFIX_USER,
    PREFIX_PASSWORD and PREFIX_NAME, every part URL-encoded, so a password may hold any character
    (compose files cannot encode one). None without PREFIX_HOST; ValueError, with the one line to
    print, when a part is missing."""
    host = env.get(f"{prefix}_HOST")
    if not host:
        return None
    parts = [f"{prefix}_{part}" for part in ("USER", "PASSWORD", "NAME")]
    missing = [name for name in parts if not env.get(name)]
    if missing:
        raise ValueError(f"{prefix}_HOST is set, but {', '.join(missing)} is not; set all of {prefix}_*")
    user, password, name = (quote(env[part], safe="") for part in parts)
    return f"{scheme}://{user}:{password}@{host}:{env.get(f'{prefix}_PORT') or 5432}/{name}"
