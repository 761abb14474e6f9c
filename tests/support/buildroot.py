"""The build root's recipe key, from tools/buildroot/buildroot.sh itself: the name of a cached
root and of its tarball, so tests find them as tools/bazel does."""

import subprocess
from pathlib import Path


def recipe_key(tools: Path) -> str:
    """`buildroot::key` of the recipe in this tools/ folder (a copy the test edited, say)."""
    script = 'source "$1/buildroot/buildroot.sh" && buildroot::key'
    return subprocess.run(
        ["bash", "-c", script, "-", str(tools)], capture_output=True, text=True, check=True
    ).stdout.strip()
