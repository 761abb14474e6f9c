"""Release benchmark, run inside the build root by bench/images.

Prints, in one run, against a loopback registry:
- the time of a full `//:release` (by digest, tagged, SBOM attached, signed) against a plain
  `skopeo copy` of the same three images by digest, and against the release without a key, so
  the cost of signing and of the SBOMs and tags each shows;
- what a release sends after a one-line change to the server's code: bytes, and every blob
  uploaded, by what it is (a layer of which image, a config, an SBOM, a signature).
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKSPACE))

from bench.images import bazel  # noqa: E402
from tests.support.network import CountingProxy  # noqa: E402
from tests.support.registry import registry  # noqa: E402
from tests.support.signing import signing_key  # noqa: E402
from tools.oci.layout import image_manifests  # noqa: E402

IMAGES = {"prediction-server": "server", "mlops-airflow": "airflow", "mlops-postgres": "airflow/postgres"}
APP_FILE = WORKSPACE / "server/app/main.py"
UPLOADED = re.compile(r"/v2/[^?]+/blobs/uploads/[^?]*\?.*digest=sha256%3A([0-9a-f]{64})")


def release(bin_dir: Path, address: str, tag: str, env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(
        [str(bin_dir / "release"), "--registry", f"{address}/mlops", "--tag", tag, "--insecure"],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )
    return time.monotonic() - start


def plain_copy(bin_dir: Path, address: str) -> float:
    start = time.monotonic()
    for name, package in IMAGES.items():
        layout = bin_dir / package / "image"
        digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
        destination = f"docker://{address}/mlops/{name}@{digest}"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
                f"oci:{layout}",
                destination,
            ],
            check=True,
        )
    return time.monotonic() - start


def blob_names(bin_dir: Path) -> dict[str, tuple[str, int]]:
    """digest hex -> (what it is, its size), for every blob of the three images and their SBOMs."""
    names = {}
    for name, package in IMAGES.items():
        [(_, manifest)] = image_manifests(bin_dir / package / "image")
        names[manifest["config"]["digest"][7:]] = (f"{name} config", manifest["config"]["size"])
        for index, layer in enumerate(manifest["layers"]):
            names[layer["digest"][7:]] = (f"{name} layer {index + 1}/{len(manifest['layers'])}", layer["size"])
        sbom = (bin_dir / package / "image_sbom.spdx.json").read_bytes()
        names[hashlib.sha256(sbom).hexdigest()] = (f"{name} SBOM", len(sbom))
    return names


def main() -> None:
    targets = ["//:release"] + [f"//{package}:image_sbom" for package in IMAGES.values()]
    bazel("build", *targets)
    bin_dir = Path(bazel("info", "bazel-bin").strip())
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-release-{os.getpid()}"
    scratch.mkdir(parents=True)
    key = signing_key(scratch, passphrase="bench")

    timings = {}
    for label, run in [
        ("plain skopeo copy by digest", lambda address: plain_copy(bin_dir, address)),
        ("release without a key (tags, SBOMs)", lambda address: release(bin_dir, address, "v1", {})),
        ("release, signed (tags, SBOMs, signatures)", lambda address: release(bin_dir, address, "v1", key.env)),
    ]:
        with registry(scratch / label.split()[0]) as running:
            timings[label] = run(running.address)

    with registry(scratch / "again") as running:
        release(bin_dir, running.address, "v1", key.env)
        proxy = CountingProxy(int(running.address.split(":")[1]))
        original = APP_FILE.read_text()
        try:
            APP_FILE.write_text(original + "# bench: a one-line change\n")
            bazel("build", *targets)
            names = blob_names(bin_dir)
            release(bin_dir, f"127.0.0.1:{proxy.port}", "v2", key.env)
        finally:
            APP_FILE.write_text(original)
            bazel("build", *targets)
        proxy.close()
    uploaded = [match.group(1) for _, path in proxy.requests if (match := UPLOADED.search(path))]

    baseline = timings["plain skopeo copy by digest"]
    print(f"\n{'release of the three images':<44} {'time':>8} {'vs plain copy':>14}")
    for label, seconds in timings.items():
        print(f"{label:<44} {seconds:>7.1f}s {seconds / baseline:>13.2f}x")
    signed, unsigned = (
        timings["release, signed (tags, SBOMs, signatures)"],
        timings["release without a key (tags, SBOMs)"],
    )
    print(f"{'of which signing':<44} {signed - unsigned:>7.1f}s")
    print(f"{'of which SBOMs and tags':<44} {unsigned - baseline:>7.1f}s")
    print(f"\nre-release after a one-line change to {APP_FILE.relative_to(WORKSPACE)}: {proxy.sent} bytes sent")
    print(f"{'blob uploaded':<14} {'bytes':>9}  what it is")
    for digest in uploaded:
        what, size = names.get(digest, ("a signature's payload, or its manifest's config", 0))
        print(f"{digest[:12]:<14} {size or '':>9}  {what}")


if __name__ == "__main__":
    main()
