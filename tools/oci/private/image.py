"""Assembles an OCI image layout: a base image's layers and config, plus new layers and settings.

The spec (JSON, written by the oci_image rule) holds the settings; unset ones are inherited from
the base, the way a Dockerfile's FROM works. Env values may refer to the base's values as $NAME or
${NAME}. The output directory has oci-layout, index.json and blobs/sha256/.
"""

import argparse
import json
import re
from pathlib import Path

from tools.oci.layout import (
    CONFIG,
    MANIFEST,
    Json,
    blob_path,
    image_manifests,
    link_or_copy,
    read_json_blob,
    write_index,
    write_json_blob,
)

VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
STAMP_KEY = re.compile(r"\{(\w+)\}")


def stamp(values: dict[str, str], status: dict[str, str]) -> dict[str, str]:
    """{KEY} -> its value in Bazel's stable status; unknown when not stamping."""
    return {key: STAMP_KEY.sub(lambda m: status.get(m.group(1), "unknown"), value) for key, value in values.items()}


def expand_env(base_env: list[str], updates: dict[str, str]) -> list[str]:
    env = dict(entry.split("=", 1) for entry in base_env)
    for key, value in updates.items():
        env[key] = VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)
    return [f"{key}={value}" for key, value in env.items()]


def apply_settings(config: Json, spec: Json) -> None:
    runtime = config.setdefault("config", {})
    if spec.get("entrypoint") is not None:
        runtime["Entrypoint"] = spec["entrypoint"]
        runtime.pop("Cmd", None)  # As in Docker: a new entrypoint drops the base's default args.
    if spec.get("cmd") is not None:
        runtime["Cmd"] = spec["cmd"]
    if spec.get("env"):
        runtime["Env"] = expand_env(runtime.get("Env", []), spec["env"])
    for key, field in (("workdir", "WorkingDir"), ("user", "User")):
        if spec.get(key):
            runtime[field] = spec[key]
    if spec.get("labels"):
        runtime["Labels"] = {**runtime.get("Labels", {}), **spec["labels"]}
    for key, field in (("exposed_ports", "ExposedPorts"), ("volumes", "Volumes")):
        if spec.get(key):
            runtime[field] = {**runtime.get(field, {}), **{item: {} for item in spec[key]}}
    for key in ("os", "architecture", "variant", "created"):
        if spec.get(key):
            config[key] = spec[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--stamp", type=Path, help="Bazel's stable-status.txt, for {KEY} in labels and annotations")
    parser.add_argument("--base", type=Path, help="the base image's layout directory")
    parser.add_argument("--layer", nargs=2, action="append", default=[], metavar=("DESCRIPTOR", "BLOB"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--digest", type=Path, required=True, help="where to write the manifest digest")
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    if args.stamp:
        status = dict(line.split(" ", 1) for line in args.stamp.read_text().splitlines() if " " in line)
        spec["labels"], spec["annotations"] = stamp(spec["labels"], status), stamp(spec["annotations"], status)
    args.out.mkdir(parents=True, exist_ok=True)

    layers: list[Json] = []
    if args.base:
        [(_, base_manifest)] = image_manifests(args.base)
        config = read_json_blob(args.base, base_manifest["config"]["digest"])
        for layer in base_manifest["layers"]:
            link_or_copy(blob_path(args.base, layer["digest"]), blob_path(args.out, layer["digest"]))
            layers.append(layer)
    else:
        config = {"rootfs": {"type": "layers", "diff_ids": []}, "history": []}
    apply_settings(config, spec)

    for descriptor_file, blob in args.layer:
        descriptor = json.loads(Path(descriptor_file).read_text())
        link_or_copy(Path(blob), blob_path(args.out, descriptor["digest"]))
        layers.append({key: descriptor[key] for key in ("mediaType", "digest", "size")})
        config["rootfs"]["diff_ids"].append(descriptor["diff_id"])
        config["history"].append({"created": config["created"], "created_by": f"bazel: {descriptor['source']}"})

    manifest: Json = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": write_json_blob(args.out, config, CONFIG),
        "layers": layers,
    }
    if spec.get("annotations"):
        manifest["annotations"] = spec["annotations"]
    top = write_json_blob(args.out, manifest, MANIFEST)
    write_index(args.out, top)
    args.digest.write_text(top["digest"])


if __name__ == "__main__":
    main()
