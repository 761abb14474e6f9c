"""Pushes an image layout (one image or an index) to a registry, as rules_oci's oci_push does.

Blobs the registry already has are skipped (HEAD); the rest are uploaded, large ones in chunks.
Manifests go last, children before the index, so a tag never points at anything incomplete.
"""

import argparse
import sys
from pathlib import Path

from tools.oci.layout import blob_path, image_manifests, top_descriptor
from tools.oci.private.registry import PushError, Registry, check_tag, split_reference, stored_credentials

CHUNK_SIZE = 16 << 20


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def push(layout: Path, reference: str, tags: list[str], insecure: bool, chunk_size: int = CHUNK_SIZE) -> str:
    host, name = split_reference(reference)
    tags = [check_tag(tag) for tag in tags] or ["latest"]
    registry = Registry(host, insecure=insecure, credentials=stored_credentials(host))

    images = image_manifests(layout)
    blobs = {blob["digest"]: blob for _, manifest in images for blob in [manifest["config"], *manifest["layers"]]}
    uploaded = skipped = 0
    for digest, blob in sorted(blobs.items()):
        if registry.has_blob(name, digest):
            skipped += 1
            print(f"oci_push: {digest[:19]} already there", file=sys.stderr)
            continue
        print(f"oci_push: {digest[:19]} uploading {megabytes(blob['size'])}", file=sys.stderr)
        registry.upload_blob(name, digest, blob_path(layout, digest), chunk_size)
        uploaded += 1

    top = top_descriptor(layout)
    for descriptor, _ in images:
        if descriptor["digest"] != top["digest"]:  # an index's children, by digest
            registry.put_manifest(name, descriptor["digest"], blob_path(layout, descriptor["digest"]).read_bytes(),
                                  descriptor["mediaType"])
    content = blob_path(layout, top["digest"]).read_bytes()
    for tag in tags:
        answered = registry.put_manifest(name, tag, content, top["mediaType"])
        if answered and answered != top["digest"]:
            raise PushError(f"{host} stored {tag} as {answered}, not {top['digest']}")
    print(f"oci_push: {host}/{name}@{top['digest']} tagged {', '.join(tags)}; uploaded {uploaded} blobs, "
          f"{skipped} already there, {registry.sent_bytes} bytes sent", file=sys.stderr)
    return top["digest"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True, help="the image layout directory")
    parser.add_argument("--repository", help="registry/name, e.g. 127.0.0.1:5000/app (overrides the rule's)")
    parser.add_argument("--tag", action="append", default=[], help="a tag to set, repeatable (replaces the rule's)")
    parser.add_argument("--default-repository", default="", help=argparse.SUPPRESS)
    parser.add_argument("--default-tag", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--insecure", action="store_true", help="plain HTTP, for a loopback or test registry")
    parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="blobs larger than this go in chunks of it (bytes)")
    args = parser.parse_args()
    repository = args.repository or args.default_repository
    try:
        if not repository:
            raise PushError("no repository: set oci_push(repository = ...) or pass --repository REGISTRY/NAME")
        digest = push(args.image, repository, args.tag or args.default_tag, args.insecure, args.chunk_size)
    except PushError as error:
        print(f"oci_push: error: {error}", file=sys.stderr)
        return 1
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
