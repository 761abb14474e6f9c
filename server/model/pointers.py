"""The artifacts' names, the DVC pointer files that record their md5s, and where a remote keeps
them: what the entrypoint needs to check a pull, without importing the model's libraries."""

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import yaml

TRANSFORMER = "transformer.skops"
MODEL = "model.skops"
METADATA = "model.json"
ARTIFACTS = (TRANSFORMER, MODEL, METADATA)


class ArtifactError(Exception):
    """An artifact is missing, corrupt (hash mismatch) or not loadable."""


def md5(path: Path) -> str:
    with open(path, "rb") as data:
        return hashlib.file_digest(data, "md5").hexdigest()


def pointer(path: Path) -> str:
    """The .dvc pointer file DVC writes for `path` (out: md5, size, hash, path), in DVC's order."""
    out = {"md5": md5(path), "size": path.stat().st_size, "hash": "md5", "path": path.name}
    return yaml.safe_dump({"outs": [out]}, sort_keys=False)


def recorded_md5(dvc_file: Path) -> str:
    try:
        text = dvc_file.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not text"
        raise ArtifactError(f"cannot read the pointer file {dvc_file} ({reason})") from None
    try:
        outs = yaml.safe_load(text)["outs"]
        value = str(outs[0]["md5"])
    except (yaml.YAMLError, TypeError, KeyError, IndexError) as error:
        raise ArtifactError(f"{dvc_file} is not a DVC pointer file with an md5 ({type(error).__name__})") from None
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise ArtifactError(f"{dvc_file} records no md5")
    return value


def verify(directory: Path, pointers: Path) -> dict[str, str]:
    """Checks each artifact in `directory` against its pointer in `pointers`; returns the md5s."""
    hashes = {}
    for name in ARTIFACTS:
        path, expected = directory / name, recorded_md5(pointers / f"{name}.dvc")
        if not path.is_file():
            raise ArtifactError(f"{name} is missing from {directory}")
        actual = md5(path)
        if actual != expected:
            raise ArtifactError(f"{name} is corrupt: md5 {actual}, but its .dvc file records {expected}")
        hashes[name] = actual
    return hashes


def s3_location(url: str) -> tuple[str, str]:
    """s3://BUCKET/PATH -> (BUCKET, PATH without slashes at either end; may be empty)."""
    parts = urlsplit(url)
    return parts.netloc, parts.path.strip("/")


def s3_key(prefix: str, name: str) -> str:
    """The object key of `name` below `prefix` (which may be empty)."""
    return f"{prefix}/{name}" if prefix else name
