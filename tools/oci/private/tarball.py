"""Writes an image layout as a tarball for `docker load` or `podman load`.

Format `oci`: the layout itself (oci-layout, index.json, blobs/), each repo tag a ref.name
annotation. Format `docker`: the same plus docker's manifest.json, which names the config, the
layers and the repo tags; recent `docker save` writes that shape, and both engines load it.
Entries are sorted with mtime 0, so the tarball is reproducible.
"""

import argparse
import io
import tarfile
from pathlib import Path

from tools.oci.layout import blob_path, canonical, image_manifests
from tools.oci.private.settings_files import read_names

REFERENCE = "org.opencontainers.image.ref.name"


def add_bytes(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(content), 0o644, 0
    archive.addfile(info, io.BytesIO(content))


def add_file(archive: tarfile.TarFile, name: str, path: Path) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
    with open(path, "rb") as data:
        archive.addfile(info, data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--tags", type=Path, help="a file of repo:tag lines, e.g. prediction-server:latest")
    parser.add_argument("--format", choices=["docker", "oci"], default="docker")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    tags = read_names(args.tags)
    images = image_manifests(args.image)
    if len(images) != 1:
        raise SystemExit(f"oci_load: {args.image} holds {len(images)} images; load one platform's oci_image instead")
    [(descriptor, manifest)] = images
    blobs = [descriptor, manifest["config"], *manifest["layers"]]
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{**descriptor, "annotations": {REFERENCE: tag}} for tag in tags] or [descriptor],
    }
    docker_manifest = [
        {
            "Config": f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}",
            "RepoTags": tags,
            "Layers": [f"blobs/sha256/{layer['digest'].split(':')[1]}" for layer in manifest["layers"]],
        }
    ]
    with tarfile.open(args.out, "w", format=tarfile.GNU_FORMAT) as archive:
        for blob in sorted({blob["digest"] for blob in blobs}):
            add_file(archive, f"blobs/sha256/{blob.split(':')[1]}", blob_path(args.image, blob))
        add_bytes(archive, "index.json", canonical(index))
        if args.format == "docker":
            add_bytes(archive, "manifest.json", canonical(docker_manifest))
        add_bytes(archive, "oci-layout", canonical({"imageLayoutVersion": "1.0.0"}))


if __name__ == "__main__":
    main()
