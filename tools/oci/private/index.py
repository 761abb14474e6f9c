"""Assembles an OCI image index (a multi-platform image) from single-platform image layouts."""

import argparse
from pathlib import Path

from tools.oci.layout import (
    INDEX,
    blob_path,
    image_manifests,
    link_or_copy,
    read_json_blob,
    write_index,
    write_json_blob,
)
from tools.oci.private.settings_files import read_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", type=Path, action="append", required=True, help="an image layout, in order")
    parser.add_argument("--annotations", type=Path, help="a file of name=value lines")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--digest", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    entries = []
    for layout in args.image:
        for descriptor, manifest in image_manifests(layout):
            config = read_json_blob(layout, manifest["config"]["digest"])
            for blob in [descriptor, manifest["config"], *manifest["layers"]]:
                link_or_copy(blob_path(layout, blob["digest"]), blob_path(args.out, blob["digest"]))
            platform = {"os": config["os"], "architecture": config["architecture"]}
            if config.get("variant"):
                platform["variant"] = config["variant"]
            entry = {key: descriptor[key] for key in ("mediaType", "digest", "size")}
            entries.append({**entry, "platform": platform})
    platforms = [tuple(sorted(entry["platform"].items())) for entry in entries]
    if len(set(platforms)) != len(platforms):
        raise SystemExit(f"oci_image_index: two images share a platform: {platforms}")

    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}
    annotations = read_pairs(args.annotations)
    if annotations:
        index["annotations"] = annotations
    top = write_json_blob(args.out, index, INDEX)
    write_index(args.out, top)
    args.digest.write_text(top["digest"])


if __name__ == "__main__":
    main()
