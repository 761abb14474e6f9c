"""tools/bazel, run for real inside the build root against throw-away caches.

The live root and its tarball (from the cache the outer tools/bazel passes in as
BAZEL_BUILDROOT_CACHE) seed each test's cache, so no test downloads a root. A full provision
from scratch is what .ci/run does on an empty cache, and what bench/buildroot times.
tools/bazel and its scripts come from the runfiles, not the checkout's path, so a clone in another
folder reuses this test's cached result.
"""

import hashlib
import io
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.buildroot import buildroot_function, recipe_key
from tests.support.tmpfs import private_tmpfs

TOOLS = Path("tools").absolute()  # in the runfiles, which are the test's working directory
LIVE_CACHE = Path(os.environ["BAZEL_BUILDROOT_CACHE"])


KEY = recipe_key(TOOLS)


def run_wrapper(wrapper: Path, cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], "HOME": str(cache.parent), "BAZEL_BUILDROOT_CACHE": str(cache), **env}
    return subprocess.run(
        [str(wrapper), *args], env=environment, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache whose current root is the live one, so calls need no provisioning."""
    cache = tmp_path / "cache"
    (cache / "roots").mkdir(parents=True)
    (cache / "roots" / KEY).symlink_to(LIVE_CACHE / "roots" / KEY)
    return cache


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_arguments_reach_bazel_unchanged(cache: Path) -> None:
    result = run_wrapper(TOOLS / "bazel", cache, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "bazel 7.7.1"
    assert Path(".bazelversion").read_text().strip() in result.stdout


def test_a_bad_invocation_returns_bazels_error_and_exit_code(cache: Path) -> None:
    result = run_wrapper(TOOLS / "bazel", cache, "--no_such_startup_option", "version")
    assert result.returncode == 2
    assert "Unknown startup option: '--no_such_startup_option'" in result.stderr


def test_an_unusable_cache_dir_gives_one_line_naming_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_wrapper(TOOLS / "bazel", blocker / "cache", "--version")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tools/bazel: error: cannot create")
    assert "BAZEL_BUILDROOT_CACHE" in result.stderr


def test_a_second_call_reuses_the_restored_root(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "tarballs").mkdir(parents=True)
    for name in (f"{KEY}.tar.zst", f"{KEY}.tar.zst.sha256"):
        (cache / "tarballs" / name).symlink_to(LIVE_CACHE / "tarballs" / name)
    # Roots of two other recipes: the restore keeps the one made last and removes the older.
    for age, name in ((200, "older-recipe"), (100, "last-recipe")):
        (cache / "roots" / name / "usr").mkdir(parents=True)
        os.utime(cache / "roots" / name, (os.path.getmtime(cache) - age,) * 2)

    first = run_wrapper(TOOLS / "bazel", cache, "--version")
    assert first.returncode == 0, first.stderr
    assert f"restoring the build root {KEY}" in first.stderr
    root = cache / "roots" / KEY
    assert (root / "usr" / "bin" / "bazel").exists()
    inode = root.stat().st_ino

    second = run_wrapper(TOOLS / "bazel", cache, "--version")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "bazel 7.7.1"
    assert "restoring" not in second.stderr and "provisioning" not in second.stderr, second.stderr
    assert root.stat().st_ino == inode
    assert sorted(p.name for p in (cache / "roots").iterdir()) == sorted([KEY, "last-recipe"])


def test_a_changed_recipe_provisions_a_new_root_and_leaves_nothing_half_built(cache: Path, tmp_path: Path) -> None:
    tools = tmp_path / "workspace" / "tools"
    shutil.copytree(TOOLS / "buildroot", tools / "buildroot")
    shutil.copy(TOOLS / "bazel", tools / "bazel")
    with open(tools / "buildroot" / "recipe.sh", "a") as recipe:
        recipe.write("# a change\n")
    new_key = recipe_key(tools)
    assert new_key != KEY

    # An unreachable mirror stops the provisioning at its first phase, as the recipe change
    # must start one; the test can check both without building a whole root.
    mirror = f"http://127.0.0.1:{closed_port()}/debian"
    result = run_wrapper(tools / "bazel", cache, "--version", BAZEL_BUILDROOT_MIRROR=mirror)
    assert f"provisioning the build root {new_key}" in result.stderr
    assert result.returncode == 2
    assert f"tools/bazel: error: the Debian mirror {mirror} is unreachable" in result.stderr
    assert sorted(p.name for p in (cache / "roots").iterdir()) == [KEY]
    assert not list((cache / "tarballs").iterdir())


def other_root_tarball() -> bytes:
    """A well-formed zstd tarball of a root, but not the one whose sha256 the cache recorded."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        member = tarfile.TarInfo("./usr/bin/bazel")
        member.size = 5
        archive.addfile(member, io.BytesIO(b"fake\n"))
    return subprocess.run(["zstd", "-q", "-c"], input=raw.getvalue(), capture_output=True, check=True).stdout


@pytest.mark.parametrize("content", ["garbage", "another root"])
def test_a_tarball_that_lost_its_recorded_sha256_is_not_restored(tmp_path: Path, content: str) -> None:
    cache = tmp_path / "cache"
    tarballs = cache / "tarballs"
    tarballs.mkdir(parents=True)
    data = b"not the root that was cached" if content == "garbage" else other_root_tarball()
    (tarballs / f"{KEY}.tar.zst").write_bytes(data)
    (tarballs / f"{KEY}.tar.zst.sha256").symlink_to(LIVE_CACHE / "tarballs" / f"{KEY}.tar.zst.sha256")

    # The mismatch must start a provision, which an unreachable mirror stops at its first phase.
    mirror = f"http://127.0.0.1:{closed_port()}/debian"
    result = run_wrapper(TOOLS / "bazel", cache, "--version", BAZEL_BUILDROOT_MIRROR=mirror)
    assert "does not match its recorded sha256; provisioning afresh" in result.stderr, result.stderr
    assert f"provisioning the build root {KEY}" in result.stderr
    assert result.returncode == 2
    assert not (tarballs / f"{KEY}.tar.zst").exists()
    # Whatever was extracted before the hash was known is gone: no root, no partial one.
    assert list((cache / "roots").iterdir()) == []


@pytest.mark.parametrize(
    ("tmpfs_size", "sandboxes_on_shm"), [("5g", True), ("64m", False), (None, False)], ids=["tmpfs", "small", "disk"]
)
def test_sandboxes_go_to_a_tmpfs_with_room_and_a_change_is_said_once(
    tmp_path: Path, tmpfs_size: str | None, sandboxes_on_shm: bool
) -> None:
    # pytest's tmp_path is in the root's /tmp, a tmpfs itself; Bazel's TEST_TMPDIR is on disk.
    shm = Path(tempfile.mkdtemp(dir=os.environ["TEST_TMPDIR"])) / "shm"
    if tmpfs_size:
        private_tmpfs(shm, size=tmpfs_size)
    else:
        shm.mkdir()
    rc = tmp_path / "home/.cache/sandbox.bazelrc"
    first = buildroot_function(TOOLS, "sandbox_rc", str(tmp_path), str(shm))
    assert first.returncode == 0, first.stderr
    chosen = rc.read_text()
    if sandboxes_on_shm:
        assert chosen == f"common:buildroot --sandbox_base={shm}\n"
        assert first.stderr == ""
    else:
        assert chosen == "\n"
        assert first.stderr.splitlines() == [
            f"tools/bazel: note: {shm} is not a tmpfs with 4 GiB free; Bazel's sandboxes stay on disk,"
            " where builds take up to twice the CPU"
        ]
    # The same machine again: the same file, and nothing said.
    again = buildroot_function(TOOLS, "sandbox_rc", str(tmp_path), str(shm))
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert rc.read_text() == chosen


def test_sandboxes_that_no_running_server_owns_are_removed(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    live_output_base = tmp_path / "an output base"  # a space, as a path may have

    def sandboxes(output_base: str) -> Path:
        folder = shm / f"bazel-sandbox.{hashlib.sha256(output_base.encode()).hexdigest()}"
        (folder / "sandbox_stash").mkdir(parents=True)
        return folder

    live = sandboxes(str(live_output_base))
    stale = sandboxes("/gone/output base")
    just_made = sandboxes("/a server starting")
    another_users = sandboxes("/gone/another user's")
    os.chown(another_users, 4242, 4242)
    for folder in (live, stale, another_users):
        os.utime(folder, (time.time() - 120,) * 2)
    # A Bazel server is known by the --output_base= in its command line.
    server = subprocess.Popen(["python3", "-c", "import time; time.sleep(300)", f"--output_base={live_output_base}"])
    try:
        result = buildroot_function(TOOLS, "prune_sandboxes", str(shm))
    finally:
        server.kill()
        server.wait()
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert sorted(shm.iterdir()) == sorted([live, just_made, another_users])
