"""Describes one layer tar as rules_oci takes it: the blob is the file as given (plain, gzip or
zstd), so the descriptor carries its media type, digest and size, and the uncompressed tar's
digest (the config's diff_id)."""

import argparse
import hashlib
import json
import subprocess
import zlib
from pathlib import Path

from tools.oci.layout import LAYER, LAYER_GZIP, LAYER_ZSTD, sha256_file

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20


def gunzipped_digest(path: Path) -> str:
    digest = hashlib.sha256()
    inflater = zlib.decompressobj(wbits=31)
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(CHUNK), b""):
            digest.update(inflater.decompress(chunk))
    digest.update(inflater.flush())
    return "sha256:" + digest.hexdigest()


def unzstd_digest(path: Path) -> str:
    # Python 3.13 has no zstd module; the build root's zstd (tools/buildroot/recipe.sh) decodes.
    digest = hashlib.sha256()
    # From stdin: zstd skips inputs that are not regular files, and sandboxed inputs are symlinks.
    with open(path, "rb") as source, subprocess.Popen(["zstd", "-dcq"], stdin=source, stdout=subprocess.PIPE) as zstd:
        assert zstd.stdout is not None
        for chunk in iter(lambda: zstd.stdout.read(CHUNK), b""):
            digest.update(chunk)
    if zstd.returncode != 0:
        raise SystemExit(f"oci_image: {path} is not a valid zstd stream")
    return "sha256:" + digest.hexdigest()


def describe(tar: Path) -> tuple[str, str]:
    """(media type, diff_id), from the file's own magic bytes (its name may say otherwise)."""
    with open(tar, "rb") as data:
        magic = data.read(4)
    if magic.startswith(GZIP_MAGIC):
        return LAYER_GZIP, gunzipped_digest(tar)
    if magic == ZSTD_MAGIC:
        return LAYER_ZSTD, unzstd_digest(tar)
    return LAYER, sha256_file(tar)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tar", type=Path, required=True)
    parser.add_argument("--descriptor", type=Path, required=True)
    parser.add_argument("--source", required=True, help="what the layer came from, for the image's history")
    args = parser.parse_args()
    media_type, diff_id = describe(args.tar)
    digest = diff_id if media_type == LAYER else sha256_file(args.tar)
    descriptor = {"mediaType": media_type, "digest": digest, "size": args.tar.stat().st_size,
                  "diff_id": diff_id, "source": args.source}
    args.descriptor.write_text(json.dumps(descriptor, sort_keys=True))


if __name__ == "__main__":
    main()
