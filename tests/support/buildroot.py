"""tools/buildroot/buildroot.sh's functions, each run alone from Python, as tools/bazel runs them:
the recipe key (the name of a cached root and of its tarball, so tests find them as tools/bazel
does) and any one step a test checks by itself."""

import subprocess
from pathlib import Path
from typing import Any


def buildroot_function(tools: Path, function: str, *args: str, **run: Any) -> subprocess.CompletedProcess:
    """`buildroot::<function> ARGS` from this tools/ folder's buildroot.sh (a copy the test edited,
    say), in a bash of its own: its exit code and both streams. `run` goes to subprocess.run (env,
    timeout)."""
    script = f'source "$0/buildroot/buildroot.sh" && buildroot::{function} "$@"'
    return subprocess.run(["bash", "-c", script, str(tools), *args], capture_output=True, text=True, check=False, **run)


def recipe_key(tools: Path) -> str:
    """`buildroot::key` of the recipe in this tools/ folder."""
    result = buildroot_function(tools, "key")
    result.check_returncode()
    return result.stdout.strip()
