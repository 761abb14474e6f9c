"""Describes one layer tar as rules_oci takes it: the blob is the file as given (plain, gzip or
zstd), so the descriptor carries its media type, digest and size, and the uncompressed tar's
digest (the config's diff_id)."""

import argparse
import hashlib
import json
from pathlib import Path

from tools.oci.layout import LAYER, layer_media_type, layer_stream, sha256_file


def describe(tar: Path) -> tuple[str, str]:
    """(media type, diff_id): the type from the file's own magic bytes, the diff_id from its tar."""
    try:
        with layer_stream(tar) as stream:
            diff_id = "sha256:" + hashlib.file_digest(stream, "sha256").hexdigest()
    except (OSError, EOFError, ValueError) as error:
        raise SystemExit(f"oci_image: {tar} is not a valid layer ({error})") from None
    return layer_media_type(tar), diff_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tar", type=Path, required=True)
    parser.add_argument("--descriptor", type=Path, required=True)
    parser.add_argument("--source", required=True, help="what the layer came from, for the image's history")
    args = parser.parse_args()
    media_type, diff_id = describe(args.tar)
    digest = diff_id if media_type == LAYER else sha256_file(args.tar)
    descriptor = {
        "mediaType": media_type,
        "digest": digest,
        "size": args.tar.stat().st_size,
        "diff_id": diff_id,
        "source": args.source,
    }
    args.descriptor.write_text(json.dumps(descriptor, sort_keys=True))


if __name__ == "__main__":
    main()
