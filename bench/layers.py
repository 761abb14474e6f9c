"""Per-layer sizes of an image layout, for the benchmark reports."""

import zlib
from pathlib import Path

from tools.oci.layout import blob_path, image_manifests


def layer_sizes(layout: Path) -> list[tuple[str, int, int]]:
    """(digest, compressed bytes, uncompressed bytes) for each layer of the layout's one image."""
    [(_, manifest)] = image_manifests(layout)
    return [(layer["digest"], layer["size"], len(zlib.decompress(blob_path(layout, layer["digest"]).read_bytes(), 31)))
            for layer in manifest["layers"]]
