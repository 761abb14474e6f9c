"""Splitting site-packages over layers moves files between layers and changes nothing else."""

import os
from collections import Counter
from pathlib import Path

from tools.oci.layout import LAYER_GZIP, LAYER_ZSTD, blob_path, image_manifests, open_layer

SITE_PACKAGES = "app/site-packages/"


def layer_files(layout: Path) -> list[tuple[str, dict[str, bytes]]]:
    """(media type, {path: content}) of each layer's site-packages files."""
    [(_, manifest)] = image_manifests(layout)
    layers = []
    for layer in manifest["layers"]:
        with open_layer(blob_path(layout, layer["digest"])) as archive:
            files = {
                member.name: archive.extractfile(member).read()
                for member in archive
                if member.isfile() and member.name.startswith(SITE_PACKAGES)
            }
        layers.append((layer["mediaType"], files))
    return layers


def test_the_split_holds_the_same_files_each_once() -> None:
    single = layer_files(Path(os.environ["SINGLE"]))
    split = layer_files(Path(os.environ["SPLIT"]))
    single_files = {path: data for _, files in single for path, data in files.items()}
    counts = Counter(path for _, files in split for path in files)
    assert counts and max(counts.values()) == 1, [path for path, n in counts.items() if n > 1]
    assert {path: data for _, files in split for path, data in files.items()} == single_files
    assert [media for media, files in single if files] == [LAYER_GZIP]


def test_a_group_gets_its_distribution_and_the_buckets_the_rest() -> None:
    split = [files for _, files in layer_files(Path(os.environ["SPLIT"]))]
    holding = [files for files in split if files]
    assert len(holding) >= 3, "one group and at least two of three buckets should hold wheels"
    [metrics] = [files for files in split if any(p.startswith(SITE_PACKAGES + "prometheus_client/") for p in files)]
    assert all(p.startswith(SITE_PACKAGES + "prometheus_client") for p in metrics)
    for name in ("six.py", "idna/__init__.py", "packaging/__init__.py", "typing_extensions.py"):
        assert sum(SITE_PACKAGES + name in files for files in split) == 1, name


def test_split_layers_are_zstd() -> None:
    [(_, manifest)] = image_manifests(Path(os.environ["SPLIT"]))
    assert {layer["mediaType"] for layer in manifest["layers"][2:]} == {LAYER_ZSTD}
