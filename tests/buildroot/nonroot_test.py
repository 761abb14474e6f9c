"""tools/bazel and tools/podman as a normal user, run for real.

CI runs as root, so the test makes a user of its own: uid 4242, with the subordinate ids
300000-365535, in copies of /etc/passwd, /etc/group, /etc/subuid and /etc/subgid that it binds
over the root's in a mount namespace of its own. As that user, with a cache of its own, it
restores the live root's tarball, runs a real test target of a copy of this checkout (its wheels
from a copy of the live wheelhouse), and runs the hello image with tools/podman.

One stand-in: newuidmap and newgidmap are setuid-root programs, and the bwrap that runs this whole
build root sets no_new_privs, so setuid has no effect in here. The user's PATH starts with a
newuidmap and a newgidmap of the test's; each asks the test process (real root) to write the same
map, which it checks against the subordinate-id files first, as the real programs do.
"""

import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.buildroot import recipe_key
from tests.support.checkout import unpack_checkout

LIVE_CACHE = Path(os.environ["BAZEL_BUILDROOT_CACHE"])
# The runfiles (the working directory) hold the recipe, whatever folder the checkout is in.
KEY = recipe_key(Path("tools").absolute())
UID = 4242
NAME = "dev"
SUBIDS = (300000, 65536)


def subid_ranges(path: Path, user: str, uid: int) -> list[tuple[int, int]]:
    """The (start, count) blocks that /etc/subuid-style `path` gives `user`."""
    ranges = []
    for line in path.read_text().splitlines():
        owner, start, count = line.split(":")
        if owner in (user, str(uid)):
            ranges.append((int(start), int(count)))
    return ranges


def allowed(mapping: list[int], uid: int, ranges: list[tuple[int, int]]) -> bool:
    """newuidmap's rule: each (inside, outside, count) is the caller's own id or lies in its blocks."""
    triples = [mapping[i : i + 3] for i in range(0, len(mapping), 3)]
    return len(mapping) % 3 == 0 and all(
        (outside == uid and count == 1) or any(start <= outside and outside + count <= start + n for start, n in ranges)
        for _, outside, count in triples
    )


class IdMapper(socketserver.ThreadingUnixStreamServer):
    """Writes /proc/PID/{uid,gid}_map for the test's newuidmap/newgidmap, for the user alone."""

    def __init__(self, path: Path, etc: Path) -> None:
        self.etc = etc
        super().__init__(str(path), IdMapRequest)
        path.chmod(0o777)


class IdMapRequest(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        kind, pid, *mapping = json.loads(self.rfile.readline())
        creds = self.request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        caller = int.from_bytes(creds[4:8], "little")
        ids = [int(value) for value in mapping]
        ranges = subid_ranges(self.server.etc / f"sub{kind}", NAME, UID)
        owner = Path(f"/proc/{int(pid)}").stat().st_uid
        if caller != UID or owner != UID or not allowed(ids, UID, ranges):
            self.wfile.write(b"refused\n")
            return
        lines = "".join(f"{ids[i]} {ids[i + 1]} {ids[i + 2]}\n" for i in range(0, len(ids), 3))
        Path(f"/proc/{int(pid)}/{kind}_map").write_text(lines)
        self.wfile.write(b"ok\n")


SHIM = """#!/usr/bin/python3
import json, socket, sys
with socket.socket(socket.AF_UNIX) as sock:
    sock.connect({socket!r})
    sock.sendall(json.dumps([{kind!r}, *sys.argv[1:]]).encode() + b"\\n")
    answer = sock.makefile().readline().strip()
if answer != "ok":
    sys.exit("new{kind}map: " + answer)
"""


def on_disk(name: str) -> Path:
    """A directory under TEST_TMPDIR, on disk (the root's /tmp is a tmpfs every test shares),
    that the user can reach."""
    # TEST_TMPDIR lies under Bazel's output root in the root's $HOME/.cache, which pip made
    # 0700: the user needs to pass through it (and nothing more).
    cache = Path.home() / ".cache"
    cache.chmod(cache.stat().st_mode | 0o111)
    Path(os.environ["TEST_TMPDIR"]).chmod(0o755)
    directory = Path(tempfile.mkdtemp(prefix=name, dir=os.environ["TEST_TMPDIR"]))
    directory.chmod(0o755)
    return directory


def chown_tree(path: Path) -> None:
    subprocess.run(["chown", "-R", f"{UID}:{UID}", str(path)], check=True)


class User:
    """Runs commands as the test's user, in a home and a build-root cache of its own."""

    def __init__(self, home: Path, shims: Path) -> None:
        self.home = home
        self.cache = home / "cache"
        self.shims = shims

    def run(self, *command: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
        environment = {
            "PATH": f"{self.shims}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "BAZEL_BUILDROOT_CACHE": str(self.cache),
        }
        setpriv = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "--"]
        return subprocess.run(
            [*setpriv, *command], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    """The user, its /etc entries bound over the root's, and its id mapper. All of it is gone
    with the test process's mount namespace and TEST_TMPDIR."""
    os.unshare(os.CLONE_NEWNS)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    etc = on_disk("etc-")
    start, count = SUBIDS
    additions = {
        "passwd": f"{NAME}:x:{UID}:{UID}:a developer:/nonexistent:/bin/bash\n",
        "group": f"{NAME}:x:{UID}:\n",
        "subuid": f"{NAME}:{start}:{count}\n",
        "subgid": f"{NAME}:{start}:{count}\n",
    }
    for name, line in additions.items():
        original = Path("/etc") / name
        (etc / name).write_text(original.read_text() + line)
        subprocess.run(["mount", "--bind", str(etc / name), str(original)], check=True)

    home = on_disk("home-")
    shims = home / "shims"
    shims.mkdir()
    # A socket path must fit in 108 bytes, which TEST_TMPDIR's do not.
    sockets = Path(tempfile.mkdtemp(prefix="idmap-", dir="/tmp"))
    sockets.chmod(0o755)
    mapper = IdMapper(sockets / "socket", etc)
    threading.Thread(target=mapper.serve_forever, daemon=True).start()
    for kind in ("uid", "gid"):
        shim = shims / f"new{kind}map"
        shim.write_text(SHIM.format(socket=str(sockets / "socket"), kind=kind))
        shim.chmod(0o755)

    # The user's cache starts with the live root's tarball, so the first call restores, and a copy
    # of the wheels tools/pip keeps, so the test's pip hub installs without the package index:
    # what is under test is the root and the user, not the index (with it, the test took 48 s
    # instead of 95 s).
    tarballs = home / "cache" / "tarballs"
    tarballs.mkdir(parents=True)
    for name in (f"{KEY}.tar.zst", f"{KEY}.tar.zst.sha256"):
        shutil.copy(LIVE_CACHE / "tarballs" / name, tarballs / name)
    wheelhouse = Path(".cache/pip-target-wheelhouse")
    if (LIVE_CACHE / "home" / wheelhouse).is_dir():
        shutil.copytree(LIVE_CACHE / "home" / wheelhouse, home / "cache" / "home" / wheelhouse)
    chown_tree(home)
    yield User(home, shims)
    mapper.shutdown()
    shutil.rmtree(sockets)


@pytest.fixture(scope="module")
def checkout(user: User) -> Iterator[Path]:
    """A copy of this checkout that the user owns, as a clone of the user's own would be."""
    copy = unpack_checkout(user.home / "checkout")
    chown_tree(copy)
    yield copy
    user.run(str(copy / "tools/bazel"), "shutdown", cwd=copy, timeout=120)
    # The user's Bazel kept its sandboxes on /dev/shm (tools/bazel's choice), which outlives the test.
    for sandboxes in Path("/dev/shm").glob("bazel-sandbox.*"):
        if sandboxes.stat().st_uid == UID:
            shutil.rmtree(sandboxes)


def test_a_normal_user_restores_the_root_and_runs_a_real_test_target(user: User, checkout: Path) -> None:
    result = user.run(str(checkout / "tools/bazel"), "test", "//tests/ci:workflow_test", cwd=checkout)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"restoring the build root {KEY}" in result.stderr
    assert re.search(r"//tests/ci:workflow_test +PASSED", result.stdout), result.stdout
    # The root's files kept their owners: root is the user, apt's _apt (uid 42) a subordinate id.
    root = user.cache / "roots" / KEY
    assert (root / "usr/bin/bazel").stat().st_uid == UID
    assert (root / "var/cache/apt/archives/partial").stat().st_uid == SUBIDS[0] + 42 - 1
    # Bazel's outputs belong to the user, not to the real root.
    assert os.stat(user.cache / "output").st_uid == UID


def test_commands_besides_build_and_test_read_the_project_settings(user: User, checkout: Path) -> None:
    # The root turns on .bazelrc's `buildroot` config for every command, so each must find it.
    for command in (["query", "//tests/ci:workflow_test"], ["info", "release"], ["help", "query"]):
        result = user.run(str(checkout / "tools/bazel"), *command, cwd=checkout)
        assert result.returncode == 0, (command, result.stderr[-2000:])
        assert result.stdout.strip(), command


def test_inside_the_root_the_user_has_no_capability_over_the_host(user: User, checkout: Path) -> None:
    probe = "cat /proc/self/uid_map; grep CapBnd /proc/self/status"
    script = f'source tools/buildroot/buildroot.sh; buildroot::run "$(buildroot::ensure_root)" sh -c "{probe}"'
    result = user.run("bash", "-c", script, cwd=checkout)
    assert result.returncode == 0, result.stderr
    uid_map = [line.split() for line in result.stdout.splitlines() if not line.startswith("CapBnd")]
    assert uid_map == [["0", str(UID), "1"], ["1", str(SUBIDS[0]), str(SUBIDS[1] - 1)]]
    bounding = int(result.stdout.split("CapBnd:")[1].split()[0], 16)
    assert not bounding & (1 << 16), "cap_sys_module is in the bounding set"


def test_the_user_runs_the_hello_image_with_tools_podman(user: User, checkout: Path) -> None:
    # tools/podman sees the checkout and the cache, as `tools/bazel run //examples/hello:image_load`'s
    # hand-off does; a copy of the tarball in the checkout is what the user would load by hand.
    tarball = Path(os.environ["HELLO_TARBALL"]).resolve()
    readable = checkout / "hello.tar"
    shutil.copy(tarball, readable)
    chown_tree(readable)
    podman = str(checkout / "tools/podman")
    loaded = user.run(podman, "load", "-i", str(readable), cwd=checkout)
    assert loaded.returncode == 0, loaded.stderr
    ran = user.run(podman, "run", "--rm", "hello:latest", "--check", cwd=checkout, timeout=300)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    assert report["uid"] == 65532
    assert report["ca_certificates"] > 0


def test_the_subordinate_id_check_names_the_command(user: User, checkout: Path, tmp_path: Path) -> None:
    """A user with no subordinate ids gets one line with the usermod command."""
    empty = tmp_path / "subuid"
    empty.write_text("")
    subprocess.run(["mount", "--bind", str(empty), "/etc/subuid"], check=True)
    try:
        result = user.run(str(checkout / "tools/bazel"), "--version", cwd=checkout)
    finally:
        subprocess.run(["umount", "/etc/subuid"], check=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {NAME}" in result.stderr


def test_a_missing_host_tool_names_the_apt_get_command(user: User, checkout: Path) -> None:
    """A PATH with everything /usr/bin has but newuidmap and newgidmap, as on a host without uidmap."""
    bin_dir = user.home / "bin-without-uidmap"
    bin_dir.mkdir()
    for tool in Path("/usr/bin").iterdir():
        if tool.name not in ("newuidmap", "newgidmap"):
            (bin_dir / tool.name).symlink_to(tool)
    script = f'PATH={bin_dir} exec "$0" --version'
    result = user.run("/usr/bin/bash", "-c", script, str(checkout / "tools/bazel"), cwd=checkout)
    assert result.returncode == 2
    assert result.stderr == "tools/bazel: error: missing host tools; install them first: apt-get install uidmap\n"
