"""The artifacts' names and the DVC pointer files that record their md5s: what the entrypoint
needs to check a pull, without importing the model's libraries."""

import hashlib
import re
from pathlib import Path

TRANSFORMER = "transformer.skops"
MODEL = "model.skops"
METADATA = "model.json"
ARTIFACTS = (TRANSFORMER, MODEL, METADATA)


class ArtifactError(Exception):
    """An artifact is missing, corrupt (hash mismatch) or not loadable."""


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pointer(path: Path) -> str:
    """The .dvc pointer file DVC writes for `path` (out: md5, size, hash, path)."""
    return f"outs:\n- md5: {md5(path)}\n  size: {path.stat().st_size}\n  hash: md5\n  path: {path.name}\n"


def recorded_md5(dvc_file: Path) -> str:
    match = re.search(r"^\s*-?\s*md5: ([0-9a-f]{32})$", dvc_file.read_text(), re.MULTILINE)
    if not match:
        raise ArtifactError(f"{dvc_file} records no md5")
    return match.group(1)


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
