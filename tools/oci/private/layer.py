"""Turns one tar (plain or gzip) into an OCI layer blob and its descriptor.

The blob is gzip with mtime 0 and no file name, so the same tar always gives the same digest. The
descriptor (JSON) carries the blob's digest and size and the uncompressed tar's digest (diff_id).
"""

import argparse
import gzip
import hashlib
import json
import shutil
import zlib
from pathlib import Path

from tools.oci.layout import LAYER_GZIP, sha256_file

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


def diff_id_of_gzip(path: Path) -> str:
    digest = hashlib.sha256()
    inflater = zlib.decompressobj(wbits=31)
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(CHUNK), b""):
            digest.update(inflater.decompress(chunk))
    digest.update(inflater.flush())
    return "sha256:" + digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tar", type=Path, required=True)
    parser.add_argument("--blob", type=Path, required=True)
    parser.add_argument("--descriptor", type=Path, required=True)
    parser.add_argument("--source", required=True, help="what the layer came from, for the image's history")
    args = parser.parse_args()

    with open(args.tar, "rb") as source:
        compressed = source.read(2) == GZIP_MAGIC
    if compressed:
        shutil.copyfile(args.tar, args.blob)
        diff_id = diff_id_of_gzip(args.tar)
    else:
        diff_id = sha256_file(args.tar)
        with (open(args.tar, "rb") as source, open(args.blob, "wb") as sink,
              gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6) as zipped):
            shutil.copyfileobj(source, zipped, CHUNK)

    descriptor = {
        "mediaType": LAYER_GZIP,
        "digest": sha256_file(args.blob),
        "size": args.blob.stat().st_size,
        "diff_id": diff_id,
        "source": args.source,
    }
    args.descriptor.write_text(json.dumps(descriptor, sort_keys=True))


if __name__ == "__main__":
    main()
