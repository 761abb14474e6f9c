"""--config=remote-cache against a real HTTP cache: Debian's nginx with WebDAV on 127.0.0.1,
started by the test. Two output bases share it, and the second builds //server:image from
remote hits alone; built again after a narrower build, the image loads and analyzes nothing; a
cache that does not answer costs one warning, never the build."""

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.buildroot import buildroot_function
from tests.support.checkout import unpack_checkout
from tests.support.network import free_port, is_listening
from tests.support.tmpfs import private_tmpfs

CACHE = Path(os.environ["BAZEL_BUILDROOT_CACHE"])
TOOLS = Path("tools").absolute()  # in the runfiles, the working directory
# Bazel's summary line: "INFO: 341 processes: 212 remote cache hit, 129 internal."
PROCESSES = re.compile(r"INFO: (\d+) process(?:es)?: (.*)\.")
# Bazel's closing analysis line: "INFO: Analyzed target //server:image (0 packages loaded, 0 targets
# configured)." (its progress lines before it read the same, with the counts so far).
ANALYZED = re.compile(r"INFO: Analyzed .* \((\d+) packages? loaded, (\d+) targets? configured\)")


# Both output bases, the cache and the checkout they build: the test's Bazel servers are its
# children, and the tmpfs is gone once the last of them has shut down.
SCRATCH = private_tmpfs(Path(os.environ["TEST_TMPDIR"]) / "scratch")


def scratch(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=name, dir=SCRATCH))


# What both output bases build: a copy of the checkout, from the test's declared input.
WORKSPACE = unpack_checkout(scratch("checkout-"))


@pytest.fixture(scope="module")
def webdav() -> Iterator[str]:
    """nginx serving GET and PUT (WebDAV) from a fresh directory: what Bazel's HTTP cache needs."""
    workdir = scratch("nginx-")
    (workdir / "store").mkdir()
    port = free_port()
    config = workdir / "nginx.conf"
    temp = "".join(
        f"  {kind}_temp_path {workdir}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config.write_text(
        f"daemon off;\nmaster_process off;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n"
        "events {}\nhttp {\n"
        f"  access_log {workdir}/access.log;\n{temp}"
        f"  server {{\n    listen 127.0.0.1:{port};\n    root {workdir}/store;\n    client_max_body_size 0;\n"
        "    location / {\n      dav_methods PUT;\n      create_full_put_path on;\n    }\n  }\n}\n"
    )
    process = subprocess.Popen(["nginx", "-e", str(workdir / "error.log"), "-c", str(config), "-p", str(workdir)])
    try:
        deadline = time.monotonic() + 30
        while not is_listening(port):
            assert process.poll() is None and time.monotonic() < deadline, (workdir / "error.log").read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def build(output_root: Path, remote_cache: str, *targets: str) -> subprocess.CompletedProcess:
    """`bazel build` in an output base of its own, with the project's remote-cache settings."""
    command = [
        "bazel",
        f"--output_user_root={output_root}",
        "build",
        *targets,
        "--config=remote-cache",
        f"--remote_cache={remote_cache}",
        # Only the remote cache may hand this build its outputs: not the machine's disk cache.
        "--disk_cache=",
        # Sandboxes in the output base, on this test's tmpfs: gone with it, not left in /dev/shm.
        "--sandbox_base=",
        "--symlink_prefix=/",
        f"--repository_cache={CACHE / 'output' / 'cache' / 'repos'}",
    ]
    return subprocess.run(command, cwd=WORKSPACE, capture_output=True, text=True, timeout=2400, check=False)


def shutdown(output_root: Path) -> None:
    subprocess.run(
        ["bazel", f"--output_user_root={output_root}", "shutdown"], cwd=WORKSPACE, capture_output=True, check=False
    )


def server_digest(output_root: Path) -> str:
    info = ["bazel", f"--output_user_root={output_root}", "info", "bazel-bin"]
    bin_dir = subprocess.run(info, cwd=WORKSPACE, capture_output=True, text=True, check=True).stdout.strip()
    return (Path(bin_dir) / "server/image.json.sha256").read_text()


def process_counts(stderr: str) -> dict[str, int]:
    """{"remote cache hit": 212, "internal": 129, "linux-sandbox": 3, ...} from the last summary."""
    [*_, (_, kinds)] = PROCESSES.findall(stderr)
    return {kind.split(" ", 1)[1]: int(kind.split(" ", 1)[0]) for kind in kinds.split(", ")}


@dataclass
class OutputBases:
    """Two output bases that built the server image through the cache: the first filled it (its
    process counts say what ran), and the second got the outputs back (`reused`)."""

    first: Path
    second: Path
    filled: subprocess.CompletedProcess
    reused: subprocess.CompletedProcess


IMAGE = ("//server:image", "//server:image.digest")


@pytest.fixture(scope="module")
def output_bases(webdav: str) -> Iterator[OutputBases]:
    first, second = scratch("first-"), scratch("second-")
    try:
        filled = build(first, webdav, *IMAGE)
        assert filled.returncode == 0, filled.stderr[-3000:]
        reused = build(second, webdav, *IMAGE)
        assert reused.returncode == 0, reused.stderr[-3000:]
        yield OutputBases(first, second, filled, reused)
    finally:
        for output_root in (first, second):
            shutdown(output_root)


def test_a_second_output_base_builds_the_server_image_from_remote_hits_alone(output_bases: OutputBases) -> None:
    ran = {kind: n for kind, n in process_counts(output_bases.filled.stderr).items() if kind != "internal"}
    assert "remote cache hit" not in ran and sum(ran.values()) > 0, ran  # it ran them, and uploaded
    counts = process_counts(output_bases.reused.stderr)
    # Every action the first build ran is a hit, and nothing runs locally.
    assert counts == {"remote cache hit": sum(ran.values()), "internal": counts["internal"]}, (ran, counts)
    assert server_digest(output_bases.first) == server_digest(output_bases.second)


def test_the_image_built_again_after_a_narrower_build_loads_and_analyzes_nothing(
    output_bases: OutputBases, webdav: str
) -> None:
    # Bazel's lockfile, rewritten after every command, once dirtied every module extension's
    # repository, and the image's next build loaded 62 packages again. (The image is built first
    # here because `bazel info`, in the test before, does make the next build analyze some again.)
    for targets in (IMAGE, ("//tools/buildroot:scripts",)):
        before = build(output_bases.second, webdav, *targets)
        assert before.returncode == 0, before.stderr[-3000:]
    again = build(output_bases.second, webdav, *IMAGE)
    assert again.returncode == 0, again.stderr[-3000:]
    assert ANALYZED.findall(again.stderr) == [("0", "0")], again.stderr[-3000:]


def test_a_cache_that_stops_answering_leaves_a_local_build(output_bases: OutputBases) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    local = build(output_bases.second, closed, "//examples/hello:image")
    assert local.returncode == 0, local.stderr[-3000:]
    assert "remote cache hit" not in process_counts(local.stderr)


def remote_cache_rc(cache: Path, url: str) -> subprocess.CompletedProcess:
    """tools/bazel's step for --config=remote-cache, run alone against a throw-away cache."""
    return buildroot_function(TOOLS, "remote_cache_rc", str(cache), env={**os.environ, "BAZEL_REMOTE_CACHE": url})


def test_tools_bazel_uses_a_cache_that_answers_and_warns_once_about_one_that_does_not(
    webdav: str, tmp_path: Path
) -> None:
    rc = tmp_path / "home/.cache/remote-cache.bazelrc"
    answered = remote_cache_rc(tmp_path, webdav)
    assert answered.returncode == 0 and answered.stderr == ""
    assert rc.read_text() == f"build:remote-cache --remote_cache={webdav}\n"

    port = free_port()
    silent = remote_cache_rc(tmp_path, f"http://ci:s3cret@127.0.0.1:{port}/cache")
    assert silent.returncode == 0
    assert silent.stderr.splitlines() == [
        f"tools/bazel: warning: the remote cache at http://127.0.0.1:{port} does not answer; building without it"
    ]
    assert rc.read_text() == ""  # so the build runs locally, and no credential is left behind
