"""Saving and loading the model's artifacts: skops files (no pickle) plus a metadata record, each
checked against the md5 that its DVC pointer file records.

skops names zip members and memo entries after object ids, and stamps the current time;
`canonical_skops` renumbers both in order of appearance and fixes the time, so the same model
always gives the same bytes, hence the same DVC hash.
"""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio

from server.model.pipeline import Trained
from server.model.pointers import (
    ARTIFACTS,
    METADATA,
    MODEL,
    TRANSFORMER,
    ArtifactError,
    md5,
    pointer,
    recorded_md5,
    verify,
)

__all__ = [
    "ARTIFACTS",
    "METADATA",
    "MODEL",
    "TRANSFORMER",
    "ArtifactError",
    "load",
    "md5",
    "pointer",
    "recorded_md5",
    "save",
    "verify",
]

# Everything skops may rebuild on load: anything else in a file is refused (no arbitrary objects).
TRUSTED_TYPES = ["numpy.dtype"]
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def canonical_skops(data: bytes) -> bytes:
    """The same skops archive with members renamed in schema order and a fixed timestamp."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = source.read("schema.json").decode()
        members = [name for name in source.namelist() if name != "schema.json"]
        order = sorted(members, key=lambda name: schema.index(f'"{name}"'))
        renamed = {name: f"{i:05d}{Path(name).suffix}" for i, name in enumerate(order)}
        schema = json.dumps(_canonical_node(json.loads(schema), renamed, {}))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
            for name, content in [("schema.json", schema.encode())] + [(renamed[n], source.read(n)) for n in order]:
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
                target.writestr(info, content)
    return out.getvalue()


def _canonical_node(node: Any, renamed: dict[str, str], ids: dict[int, int]) -> Any:
    """Renames member references, and numbers every "__id__" (an object id, which skops uses to
    share repeated objects) by order of appearance."""
    if isinstance(node, dict):
        return {
            key: ids.setdefault(value, len(ids) + 1) if key == "__id__" else _canonical_node(value, renamed, ids)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_canonical_node(item, renamed, ids) for item in node]
    if isinstance(node, str):
        return renamed.get(node, node)
    return node


def save(trained: Trained, directory: Path, metadata: dict[str, Any]) -> dict[str, str]:
    """Writes the three artifacts; returns their md5s."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / TRANSFORMER).write_bytes(canonical_skops(sio.dumps(trained.transformer)))
    (directory / MODEL).write_bytes(canonical_skops(sio.dumps(trained.model)))
    record = {**metadata, "metrics": trained.metrics, "classes": [str(c) for c in trained.model.classes_]}
    (directory / METADATA).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return {name: md5(directory / name) for name in ARTIFACTS}


def load(directory: Path, pointers: Path) -> tuple[Any, Any, dict[str, Any], dict[str, str]]:
    """(transformer, model, metadata, md5s), after verifying every hash."""
    hashes = verify(directory, pointers)
    transformer, model = load_objects(directory)
    return transformer, model, json.loads((directory / METADATA).read_text()), hashes


def load_objects(directory: Path) -> tuple[Any, Any]:
    """The transformer and model, with skops' type checks but no hash check: for the code that
    has just written them."""
    try:
        return (
            sio.load(directory / TRANSFORMER, trusted=TRUSTED_TYPES),
            sio.load(directory / MODEL, trusted=TRUSTED_TYPES),
        )
    except Exception as error:  # skops raises many types; each means the same: not loadable
        raise ArtifactError(f"cannot load the model artifacts: {error}") from error
