"""Assembles an OCI image layout: a base image's layers and config, plus new layers and settings.

Each setting comes in a file, as rules_oci's oci_image_rule takes it; unset ones are inherited from
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
from tools.oci.private.settings_files import read_args, read_list, read_pairs

VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
STAMP_KEY = re.compile(r"\{(\w+)\}")
EPOCH = "1970-01-01T00:00:00Z"


def stamp(values: dict[str, str], status: dict[str, str] | None) -> dict[str, str]:
    """{KEY} -> its value in Bazel's stable status under --stamp; `unknown` otherwise."""
    return {
        key: STAMP_KEY.sub(lambda m: (status or {}).get(m.group(1), "unknown"), value) for key, value in values.items()
    }


def expand_env(base_env: list[str], updates: dict[str, str]) -> list[str]:
    env = dict(entry.split("=", 1) for entry in base_env)
    for key, value in updates.items():
        env[key] = VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)
    return [f"{key}={value}" for key, value in env.items()]


def apply_settings(config: Json, args: argparse.Namespace, status: dict[str, str] | None) -> None:
    runtime = config.setdefault("config", {})
    entrypoint, cmd = read_args(args.entrypoint), read_args(args.cmd)
    if entrypoint is not None:
        runtime["Entrypoint"] = entrypoint
        runtime.pop("Cmd", None)  # As in Docker and rules_oci: a new entrypoint drops the base's default args.
    if cmd is not None:
        runtime["Cmd"] = cmd
    env = read_pairs(args.env)
    if env:
        runtime["Env"] = expand_env(runtime.get("Env", []), env)
    for value, field in ((args.workdir, "WorkingDir"), (args.user, "User")):
        if value:
            runtime[field] = value
    labels = read_pairs(args.labels)
    if labels:
        runtime["Labels"] = {**runtime.get("Labels", {}), **stamp(labels, status)}
    ports = [port if "/" in port else f"{port}/tcp" for port in read_list(args.exposed_ports) or []]
    for items, field in ((ports, "ExposedPorts"), (read_list(args.volumes) or [], "Volumes")):
        if items:
            runtime[field] = {**runtime.get(field, {}), **{item: {} for item in items}}
    for key in ("os", "architecture", "variant"):
        if getattr(args, key):
            config[key] = getattr(args, key)
    if args.created:
        config["created"] = args.created.read_text().strip()
    config.setdefault("created", EPOCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("entrypoint", "cmd", "env", "labels", "annotations", "exposed-ports", "volumes", "created"):
        parser.add_argument(
            f"--{name}", type=Path, help=f"the file rules_oci's {name.replace('-', '_')} attribute names"
        )
    for name in ("user", "workdir", "os", "architecture", "variant"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--stamp", type=Path, help="Bazel's stable-status.txt, for {KEY} in labels and annotations")
    parser.add_argument("--base", type=Path, help="the base image's layout directory")
    parser.add_argument("--layer", nargs=2, action="append", default=[], metavar=("DESCRIPTOR", "BLOB"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--digest", type=Path, required=True, help="where to write the manifest digest")
    args = parser.parse_args()
    status = None
    if args.stamp:
        status = dict(line.split(" ", 1) for line in args.stamp.read_text().splitlines() if " " in line)
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
    apply_settings(config, args, status)

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
    annotations = read_pairs(args.annotations)
    if annotations:
        manifest["annotations"] = stamp(annotations, status)
    top = write_json_blob(args.out, manifest, MANIFEST)
    write_index(args.out, top)
    args.digest.write_text(top["digest"])


if __name__ == "__main__":
    main()
