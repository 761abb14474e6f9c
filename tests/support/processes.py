"""Child processes that see the same Python packages as the test: Bazel's stub (and an image's
launcher) exports them as PYTHONPATH, which children inherit."""

import os
import subprocess
import sys
from pathlib import Path


def python_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def start_python(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python ARGS` in the background, output to log."""
    with open(log, "w") as sink:
        return subprocess.Popen([sys.executable, *args], env=env or python_env(), stdout=sink, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
