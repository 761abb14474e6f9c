"""The artifacts' names, the DVC pointer files that record their md5s, the manifest that
publishes them as one unit, and where a remote keeps them: what the entrypoint and the server's
rollout need to check a pull, without importing the model's libraries."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

TRANSFORMER = "transformer.skops"
MODEL = "model.skops"
METADATA = "model.json"
ARTIFACTS = (TRANSFORMER, MODEL, METADATA)
# Written last by the pipeline's publish step, in one PUT: a reader that takes the md5s from it
# never mixes the pointers of two runs published at the same time.
MANIFEST = "manifest.json"


class ArtifactError(Exception):
    """An artifact is missing, corrupt (hash mismatch) or not loadable."""


def md5(path: Path) -> str:
    with open(path, "rb") as data:
        return hashlib.file_digest(data, "md5").hexdigest()


def pointer(path: Path) -> str:
    """The .dvc pointer file DVC writes for `path` (out: md5, size, hash, path), in DVC's order."""
    return pointer_text(path.name, md5(path), path.stat().st_size)


def pointer_text(name: str, digest: str, size: int) -> str:
    out = {"md5": digest, "size": size, "hash": "md5", "path": name}
    return yaml.safe_dump({"outs": [out]}, sort_keys=False)


def is_md5(value: object) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def recorded_md5(dvc_file: Path) -> str:
    return _recorded_out(dvc_file)[0]


def _recorded_out(dvc_file: Path) -> tuple[str, dict]:
    """The md5 a pointer file records, checked, and its whole `outs` entry."""
    try:
        text = dvc_file.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not text"
        raise ArtifactError(f"cannot read the pointer file {dvc_file} ({reason})") from None
    try:
        out = yaml.safe_load(text)["outs"][0]
        value = str(out["md5"])
    except (yaml.YAMLError, TypeError, KeyError, IndexError) as error:
        raise ArtifactError(f"{dvc_file} is not a DVC pointer file with an md5 ({type(error).__name__})") from None
    if not is_md5(value):
        raise ArtifactError(f"{dvc_file} records no md5")
    return value, out


@dataclass(frozen=True)
class Manifest:
    """One publication: every artifact's md5 and size, and the model version they make up."""

    version: str
    md5s: dict[str, str]
    sizes: dict[str, int]

    @classmethod
    def of_pointers(cls, directory: Path, version: str) -> "Manifest":
        """The manifest of the .dvc files in `directory` (a size they do not record is 0)."""
        outs = {name: _recorded_out(directory / f"{name}.dvc") for name in ARTIFACTS}
        return cls(
            version,
            {name: digest for name, (digest, _) in outs.items()},
            {name: int(out.get("size") or 0) for name, (_, out) in outs.items()},
        )

    @classmethod
    def parse(cls, text: str | bytes) -> "Manifest":
        """Raises ArtifactError unless `text` is a manifest naming an md5 for every artifact."""
        try:
            data = json.loads(text)
            version = data["version"]
            entries = {name: data["artifacts"][name] for name in ARTIFACTS}
            md5s = {name: entry["md5"] for name, entry in entries.items()}
            sizes = {name: int(entry.get("size", 0)) for name, entry in entries.items()}
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise ArtifactError(f"not a model manifest ({type(error).__name__}: {error})") from None
        bad = [name for name, digest in md5s.items() if not is_md5(digest)]
        if bad or not isinstance(version, str | int):
            raise ArtifactError(f"not a model manifest (no md5 for {', '.join(bad) or 'the version'})")
        return cls(str(version), md5s, sizes)

    def to_json(self) -> str:
        artifacts = {name: {"md5": self.md5s[name], "size": self.sizes[name]} for name in ARTIFACTS}
        return json.dumps({"version": self.version, "artifacts": artifacts}, indent=2, sort_keys=True) + "\n"

    def write_pointers(self, directory: Path) -> None:
        """The .dvc pointer file of each artifact, as DVC would write it."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in ARTIFACTS:
            (directory / f"{name}.dvc").write_text(pointer_text(name, self.md5s[name], self.sizes[name]))


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


def object_key(digest: str) -> str:
    """Where DVC 3 keeps the object with this md5 in a remote: files/md5/<2 hex>/<30 hex>."""
    return f"files/md5/{digest[:2]}/{digest[2:]}"


def s3_key(prefix: str, name: str) -> str:
    """The object key of `name` below `prefix` (which may be empty)."""
    return f"{prefix}/{name}" if prefix else name
