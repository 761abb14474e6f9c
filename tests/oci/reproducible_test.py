"""The same images, built by a second Bazel in a separate output base, have the same digests: hello,
and a binary whose site-packages is split over zstd layers (tests/oci/split_layers)."""

import os
import re
import subprocess
from pathlib import Path

from tests.support.checkout import unpack_checkout

CACHE = Path(os.environ["BAZEL_BUILDROOT_CACHE"])


def test_a_second_output_base_builds_the_same_digest(tmp_path: Path) -> None:
    expected = Path(os.environ["HELLO_DIGEST"]).read_text().strip()
    workspace = unpack_checkout(tmp_path / "checkout")
    output_root = tmp_path / "output-root"
    bazel = ["bazel", f"--output_user_root={output_root}"]
    build = subprocess.run(
        [
            *bazel,
            "build",
            "//examples/hello:image",
            "//tests/oci/split_layers:split",
            "--output_groups=digest",
            "--symlink_prefix=/",
            # Downloads are keyed by sha256, so sharing them changes nothing that is built.
            f"--repository_cache={CACHE / 'output' / 'cache' / 'repos'}",
            # Built actions are another matter: with the shared disk cache, this build would only
            # fetch the first one's outputs, and the comparison would check nothing.
            "--disk_cache=",
            # Sandboxes in the output base, under tmp_path (the root's /tmp, a tmpfs): gone with
            # it, not left in /dev/shm, where tools/bazel's choice would put them.
            "--sandbox_base=",
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    try:
        assert build.returncode == 0, build.stderr[-3000:]
        # It really built them: actions ran here, rather than coming out of a cache.
        assert re.search(r"INFO: \d+ processes: .*\d+ linux-sandbox", build.stderr), build.stderr[-600:]
        output_base = subprocess.run(
            [*bazel, "info", "output_base"], cwd=workspace, capture_output=True, text=True, check=True
        ).stdout.strip()
        bin_dir = Path(output_base) / "execroot/_main/bazel-out/k8-fastbuild/bin"
        assert (bin_dir / "examples/hello/image.json.sha256").read_text().strip() == expected
        split = Path(os.environ["SPLIT_DIGEST"]).read_text().strip()
        assert (bin_dir / "tests/oci/split_layers/split.json.sha256").read_text().strip() == split
    finally:
        subprocess.run([*bazel, "shutdown"], cwd=workspace, capture_output=True, check=False)
