"""Re-resolves third_party/debian/packages.toml into trixie.lock.json.

Run with: tools/bazel run //third_party/debian:relock

apt resolves each group's dependency closure (apt_resolver.PrivateApt: the build root stays
read-only) with a made-up dpkg status that marks the excluded packages, and every earlier group, as
installed: apt then leaves them and their own dependencies out.
"""

import json
import os
import sys
import tempfile
import tomllib
from pathlib import Path

from third_party.debian.apt_resolver import PrivateApt, deb822_source

HERE = Path(os.environ.get("BUILD_WORKSPACE_DIRECTORY", Path(__file__).resolve().parents[2])) / "third_party/debian"


def mirror() -> str:
    """The Debian mirror, which tools/bazel passes into the build root."""
    value = os.environ.get("BAZEL_BUILDROOT_MIRROR", "").rstrip("/")
    if not value:
        sys.exit("relock: BAZEL_BUILDROOT_MIRROR is not set; run me with tools/bazel run //third_party/debian:relock")
    return value


def main() -> None:
    spec = tomllib.loads((HERE / "packages.toml").read_text())
    suite, architecture = spec["suite"], spec["architecture"]
    debian = mirror()
    archive_root = debian.removesuffix("/debian")
    sources = (
        deb822_source(debian, f"{suite} {suite}-updates")
        + "\n"
        + deb822_source(f"{archive_root}/debian-security", f"{suite}-security")
    )
    with tempfile.TemporaryDirectory() as tmp:
        apt = PrivateApt(Path(tmp), sources, architecture=architecture)
        print(f"relock: reading the {suite} package lists", file=sys.stderr)
        apt.update()

        excluded = {name: ("99:99", architecture) for name in spec["exclude"]["packages"]}
        lock: dict[str, list[dict[str, str]]] = {}
        for group, body in spec["groups"].items():
            # The groups whose layers this one sits on in its image: all earlier ones unless named.
            below = body.get("on", list(lock))
            present = {e["name"]: (e["version"], e["architecture"]) for name in below for e in lock[name]}
            # A group may name a package the global list excludes (the Postgres layer's dash).
            wanted = [name for name in body["packages"] if name not in present]
            skipped = {name: ("99:99", architecture) for name in body.get("exclude", [])}
            absent = {**excluded, **skipped, **present}
            apt.mark_installed({name: pin for name, pin in absent.items() if name not in wanted})
            # apt re-lists a present package when a new one pins its exact version (libatomic1
            # on gcc-14-base drags in the base group's gcc-14 libraries); an earlier group has it.
            resolved = apt.closure(wanted, archive_root)
            lock[group] = [e for e in resolved if present.get(e["name"]) != (e["version"], e["architecture"])]
            print(f"relock: {group}: {len(lock[group])} packages", file=sys.stderr)

    out = HERE / f"{suite}.lock.json"
    document = {"suite": suite, "architecture": architecture, "groups": lock}
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"relock: wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
