"""The checkout passes ruff (lint and format), shellcheck and buildifier (format and lint)."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.checkout import unpack_checkout

RUNFILES = Path(os.environ["TEST_SRCDIR"])
CHECKOUT = unpack_checkout(Path(os.environ["TEST_TMPDIR"]) / "checkout")


def tool(name: str) -> str:
    """A lint binary: in the pip hub's bin/ (`@pypi//ruff:bin`), or at the root of @buildifier."""
    candidates = [*RUNFILES.glob(f"*/site-packages/bin/{name}"), *RUNFILES.glob(f"*/{name}")]
    [found] = [path for path in candidates if os.access(path, os.X_OK)]
    return str(found)


def source_files() -> list[Path]:
    return sorted(path for path in CHECKOUT.rglob("*") if path.is_file())


def shell_scripts() -> list[str]:
    """Every file that starts with a bash or sh shebang. The libraries they source (buildroot.sh,
    recipe.sh) are checked through them: `-x` follows `# shellcheck source=` directives."""
    scripts = []
    for path in source_files():
        with open(path, "rb") as data:
            first = data.readline(100)
        if first.startswith(b"#!") and (first.rstrip().endswith((b"bash", b"/sh"))):
            scripts.append(str(path.relative_to(CHECKOUT)))
    return scripts


@pytest.mark.parametrize(
    "command", [["check", "--no-cache"], ["format", "--check", "--no-cache"]], ids=["check", "format"]
)
def test_ruff(command: list[str]) -> None:
    result = subprocess.run([tool("ruff"), *command, "."], cwd=CHECKOUT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck() -> None:
    scripts = shell_scripts()
    assert "tools/bazel" in scripts and ".ci/run" in scripts
    result = subprocess.run([tool("shellcheck"), "-x", *scripts], cwd=CHECKOUT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buildifier() -> None:
    [reason] = list(RUNFILES.glob("*buildifier*/REASON")) or [None]
    if reason is not None:
        pytest.skip(f"buildifier not fetched: {reason.read_text().strip()}")
    result = subprocess.run(
        [tool("buildifier"), "-mode=check", "-lint=warn", "-r", "."], cwd=CHECKOUT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
