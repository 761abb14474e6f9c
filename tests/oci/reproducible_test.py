"""The same image, built by a second Bazel in a separate output base, has the same digest."""

import os
import subprocess
from pathlib import Path

WORKSPACE = Path(os.environ["BAZEL_BUILDROOT_WORKSPACE"])
CACHE = Path(os.environ["BAZEL_BUILDROOT_CACHE"])


def test_a_second_output_base_builds_the_same_digest(tmp_path: Path) -> None:
    expected = Path(os.environ["HELLO_DIGEST"]).read_text().strip()
    output_root = tmp_path / "output-root"
    bazel = ["bazel", f"--output_user_root={output_root}"]
    build = subprocess.run(
        [
            *bazel,
            "build",
            "//examples/hello:image",
            "--output_groups=digest",
            "--symlink_prefix=/",
            # Downloads are keyed by sha256, so sharing them changes nothing that is built.
            f"--repository_cache={CACHE / 'output' / 'cache' / 'repos'}",
        ],
        cwd=WORKSPACE,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    try:
        assert build.returncode == 0, build.stderr[-3000:]
        output_base = subprocess.run(
            [*bazel, "info", "output_base"], cwd=WORKSPACE, capture_output=True, text=True, check=True
        ).stdout.strip()
        digest_file = Path(output_base) / "execroot/_main/bazel-out/k8-fastbuild/bin/examples/hello/image.json.sha256"
        assert digest_file.read_text().strip() == expected
    finally:
        subprocess.run([*bazel, "shutdown"], cwd=WORKSPACE, capture_output=True, check=False)
