"""Reading the files rules_oci's attributes name (the macros write them for inline values)."""

from pathlib import Path


def read_pairs(path: Path | None) -> dict[str, str] | None:
    """`key=value` lines (env, labels, annotations); blank lines skipped, any other line refused."""
    if path is None:
        return None
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip():
            key, separator, value = line.partition("=")
            if not separator:
                raise SystemExit(f"oci: {path}: {line!r} is not a key=value line")
            pairs[key] = value
    return pairs


def read_args(path: Path | None) -> list[str] | None:
    """One argument per line (entrypoint, cmd); rules_oci's macro writes a newline as %5Cn."""
    if path is None:
        return None
    return [line.replace("%5Cn", "\n") for line in path.read_text().splitlines()]


def read_list(path: Path | None) -> list[str] | None:
    """Comma-separated values (exposed_ports, volumes)."""
    if path is None:
        return None
    return [item.strip() for item in path.read_text().replace("\n", ",").split(",") if item.strip()]


def read_names(path: Path | None) -> list[str]:
    """One name per line (repo_tags, remote_tags), blank lines skipped; none without a file."""
    if path is None:
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
