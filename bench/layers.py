"""Per-layer sizes of an image layout, for the benchmark reports."""

from pathlib import Path

from tools.oci.layout import blob_path, image_manifests, uncompressed_size


def layer_sizes(layout: Path) -> list[tuple[str, int, int]]:
    """(digest, compressed bytes, uncompressed bytes) for each layer of the layout's one image."""
    [(_, manifest)] = image_manifests(layout)
    return [
        (layer["digest"], layer["size"], uncompressed_size(blob_path(layout, layer["digest"])))
        for layer in manifest["layers"]
    ]
