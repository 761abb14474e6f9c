"""Reading and writing OCI image layouts (image-spec v1.1): blobs, canonical JSON, descriptors,
and layers whatever their compression."""

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

Json = dict[str, Any]
CHUNK = 1 << 20


def canonical(document: Any) -> bytes:
    """Sorted keys, no insignificant white space: the same document always has the same digest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as data:
        return "sha256:" + hashlib.file_digest(data, "sha256").hexdigest()


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    return layout / "blobs" / algorithm / hex_digest


def link_or_copy(source: Path, target: Path) -> None:
    """Blobs are immutable, so a hard link is as good as a copy, and free."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(os.path.realpath(source), target)
    except OSError:
        shutil.copyfile(source, target)


def write_blob(layout: Path, content: bytes, media_type: str) -> Json:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    path = blob_path(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return {"mediaType": media_type, "digest": digest, "size": len(content)}


def write_json_blob(layout: Path, document: Json, media_type: str) -> Json:
    return write_blob(layout, canonical(document), media_type)


def read_json_blob(layout: Path, digest: str) -> Json:
    return json.loads(blob_path(layout, digest).read_bytes())


def write_index(layout: Path, top: Json) -> None:
    """Points the layout at `top`, named "latest" so tools that want a tag (umoci) find it."""
    named = {**top, "annotations": {"org.opencontainers.image.ref.name": "latest"}}
    (layout / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_bytes(canonical({"schemaVersion": 2, "mediaType": INDEX, "manifests": [named]}))


def top_descriptor(layout: Path) -> Json:
    """The single manifest (or index) an image layout built here points at."""
    manifests = json.loads((layout / "index.json").read_bytes())["manifests"]
    if len(manifests) != 1:
        raise ValueError(f"{layout}: expected one manifest in index.json, found {len(manifests)}")
    return {key: value for key, value in manifests[0].items() if key != "annotations"}


def image_manifests(layout: Path) -> list[tuple[Json, Json]]:
    """(descriptor, manifest) of every image in the layout, looking through one index level."""
    top = top_descriptor(layout)
    if top["mediaType"] in (INDEX, DOCKER_MANIFEST_LIST):
        descriptors = read_json_blob(layout, top["digest"])["manifests"]
    else:
        descriptors = [top]
    return [(descriptor, read_json_blob(layout, descriptor["digest"])) for descriptor in descriptors]


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


def layer_media_type(path: Path) -> str:
    """A layer blob's media type, from its magic bytes (its file name may say otherwise)."""
    with open(path, "rb") as blob:
        magic = blob.read(4)
    return LAYER_GZIP if magic.startswith(GZIP_MAGIC) else LAYER_ZSTD if magic == ZSTD_MAGIC else LAYER


@contextlib.contextmanager
def layer_stream(path: Path) -> Iterator[BinaryIO]:
    """A layer blob's tar bytes, whatever its compression: none, gzip or zstd. Python 3.13 has no
    zstd module; the build root's zstd decodes."""
    with open(path, "rb") as blob:
        magic = blob.read(4)
        blob.seek(0)
        if magic.startswith(GZIP_MAGIC):
            with gzip.GzipFile(fileobj=blob) as inflated:
                yield inflated
            return
        if magic != ZSTD_MAGIC:
            yield blob
            return
    # zstd reads the file itself: from stdin, since sandboxed inputs are symlinks it would skip.
    with (
        open(path, "rb", buffering=0) as blob,
        subprocess.Popen(["zstd", "-dcq"], stdin=blob, stdout=subprocess.PIPE) as zstd,
    ):
        assert zstd.stdout is not None
        yield zstd.stdout
        # Drain what the reader left, so zstd never blocks on a full pipe.
        while zstd.stdout.read(CHUNK):
            pass
    if zstd.returncode != 0:
        raise ValueError(f"{path}: not a valid zstd stream")


@contextlib.contextmanager
def open_layer(path: Path) -> Iterator[tarfile.TarFile]:
    """A layer blob as a tar stream: read its members in order."""
    with layer_stream(path) as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        yield archive


def uncompressed_size(path: Path) -> int:
    """The size of a layer blob's tar."""
    with layer_stream(path) as stream:
        return sum(len(chunk) for chunk in iter(lambda: stream.read(CHUNK), b""))
