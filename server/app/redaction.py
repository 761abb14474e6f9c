"""URLs as they may be logged: a password or token in the URL's user part never reaches a log."""

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """`https://user:token@host/x` -> `https://***@host/x`; other URLs (and non-URLs) unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url if "@" not in url else "***"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))
