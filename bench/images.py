"""Image size and rebuild benchmark, run inside the build root by bench/images.

Prints, in one run:
- each layer's compressed and uncompressed size, against the floor: the raw contents of the .debs
  plus the wheels' own files (site-packages before .pyc);
- the full build time against the rebuild after a one-line change to the app;
- the bytes a re-push sends after that change against the app layer's size.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKSPACE))

from bench.layers import layer_sizes  # noqa: E402
from tests.support.network import CountingProxy  # noqa: E402
from tests.support.registry import registry  # noqa: E402
from tools.layers.debfile import Deb  # noqa: E402
from tools.oci.layout import blob_path, image_manifests, open_layer  # noqa: E402


def bazel(*args: str) -> str:
    result = subprocess.run([str(WORKSPACE / "tools/bazel"), *args], cwd=WORKSPACE, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bench: tools/bazel {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def timed_build(*targets: str) -> float:
    start = time.monotonic()
    bazel("build", *targets)
    return time.monotonic() - start


def image_packages(layout: Path) -> set[str]:
    """The Debian packages an image holds: its dpkg records (var/lib/dpkg/status.d/<name>)."""
    [(_, manifest)] = image_manifests(layout)
    names = set()
    for layer in manifest["layers"]:
        with open_layer(blob_path(layout, layer["digest"])) as archive:
            names.update(
                member.name.rsplit("/", 1)[1]
                for member in archive
                if member.isfile() and "var/lib/dpkg/status.d/" in member.name
            )
    return names


def deb_floor(output_base: Path, packages: set[str]) -> int:
    """The raw contents of the .debs the image holds (not every package the lock fetches)."""
    total = 0
    for deb in sorted((output_base / "external").glob("*debian*/debs/*.deb")):
        if deb.name.split("_", 1)[0] not in packages:
            continue
        with Deb(deb).data() as archive:
            total += sum(member.size for member in archive.getmembers() if member.isfile())
    return total


def site_packages_floor(manifest: Path, execroot: Path) -> int:
    """The wheels' own files, as installed (before .pyc and before any exclusion)."""
    sources = {source for _, source in json.loads(manifest.read_text())["files"] if source}
    return sum(os.path.getsize(execroot / source) for source in sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="//examples/hello:image")
    parser.add_argument("--app-file", default="examples/hello/hello.py", help="the file the one-line change goes to")
    args = parser.parse_args()
    package, name = args.image.removeprefix("//").split(":")
    push_target = f"//{package}:{name}_push"
    bin_dir = Path(bazel("info", "bazel-bin").strip())
    output_base = Path(bazel("info", "output_base").strip())
    layout = bin_dir / package / name

    print(f"bench: clean build of {args.image}", file=sys.stderr)
    bazel("clean")
    full = timed_build(args.image, push_target)
    before = layer_sizes(layout)
    app_file = WORKSPACE / args.app_file
    original = app_file.read_text()

    with registry(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-images-{os.getpid()}") as running:
        proxy = CountingProxy(int(running.address.split(":")[1]))  # counts what the pusher sends
        push = [
            str(bin_dir / package / f"{name}_push.sh"),
            "--repository",
            f"127.0.0.1:{proxy.port}/bench",
            "--insecure",
        ]
        subprocess.run(push, check=True, capture_output=True)
        proxy.sent, proxy.requests = 0, []
        try:
            app_file.write_text(original + "# bench: a one-line change\n")
            rebuild = timed_build(args.image, push_target)
            after = layer_sizes(layout)
            subprocess.run(push, check=True, capture_output=True)
        finally:
            app_file.write_text(original)
    sent = proxy.sent
    uploaded = sum(1 for method, path in proxy.requests if method == "POST" and "/blobs/uploads/" in path)
    changed = [layer for layer in after if layer not in before]

    floor_debs = deb_floor(output_base, image_packages(layout))
    execroot = output_base / "execroot" / "_main"
    # Every site-packages layer's manifest lists all of the binary's wheel files: one is enough.
    manifests = sorted((bin_dir / package).glob("*_site_packages*.runfiles.json"))
    floor_site = site_packages_floor(manifests[0], execroot) if manifests else 0
    floor = floor_debs + floor_site
    total_c, total_u = sum(c for _, c, _ in after), sum(u for _, _, u in after)

    print(f"\n{args.image}: {len(after)} layers")
    print(f"{'layer':<22} {'compressed MB':>14} {'uncompressed MB':>16}")
    for digest, compressed, uncompressed in after:
        print(f"{digest[7:19]:<22} {compressed / 1e6:>14.1f} {uncompressed / 1e6:>16.1f}")
    print(f"{'image':<22} {total_c / 1e6:>14.1f} {total_u / 1e6:>16.1f}")
    print(
        f"{'floor (debs + wheels)':<22} {'':>14} {floor / 1e6:>16.1f}   "
        f"(.debs {floor_debs / 1e6:.1f} + site-packages {floor_site / 1e6:.1f})"
    )
    print(f"\n{'measure':<34} {'value':>12} {'vs baseline':>12} {'target':>10}")
    print(
        f"{'image size / floor (uncompressed)':<34} {total_u / 1e6:>10.1f}MB {total_u / floor:>11.2f}x {'<= 1.15x':>10}"
    )
    print(f"{'image size / floor (compressed)':<34} {total_c / 1e6:>10.1f}MB {total_c / floor:>11.2f}x {'':>10}")
    print(f"{'full build (clean)':<34} {full:>11.1f}s {1:>11.2f}x {'':>10}")
    print(f"{'rebuild after a one-line change':<34} {rebuild:>11.1f}s {rebuild / full:>11.2f}x {'<= 5 s':>10}")
    app_layer = changed[-1][1] if changed else 0
    print(f"{'re-push bytes / app layer':<34} {sent:>11}B {sent / max(app_layer, 1):>11.2f}x {'app only':>10}")
    print(
        f"layers changed by the edit: {len(changed)} of {len(after)} (app layer {app_layer} B compressed); "
        f"the re-push uploaded {uploaded} blobs: the changed layer(s) and the new config"
    )


if __name__ == "__main__":
    main()
