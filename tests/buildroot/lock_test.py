"""tools/buildroot/packages.lock: it pins every package recipe.sh asks for, each line names one
file that matches its name, version and architecture, and the provisioner's download takes a file
only when its sha256 matches the lock, stopping with one line otherwise."""

import hashlib
import http.server
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.support.buildroot import buildroot_function, recipe_key

BUILDROOT = Path("tools/buildroot").absolute()  # in the runfiles, which are the test's working directory


def lock_entries(lock: Path) -> list[list[str]]:
    return [line.split() for line in lock.read_text().splitlines() if line and not line.startswith("#")]


def recipe_packages() -> list[str]:
    script = 'source "$1/recipe.sh" && printf "%s\\n" "${BUILDROOT_PACKAGES[@]}"'
    result = subprocess.run(["bash", "-c", script, "-", str(BUILDROOT)], capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_the_lock_pins_every_package_the_recipe_asks_for() -> None:
    locked = {name: version for name, version, *_ in lock_entries(BUILDROOT / "packages.lock")}
    for wanted in recipe_packages():
        name, _, version = wanted.partition("=")
        assert name in locked, f"{name} is not in packages.lock; run tools/bazel run //tools/buildroot:relock"
        assert version in ("", locked[name]), f"recipe.sh asks for {wanted}, the lock has {locked[name]}"


def test_each_line_names_one_file_of_its_package() -> None:
    entries = lock_entries(BUILDROOT / "packages.lock")
    assert len(entries) > 100  # Bazel, a JDK, Python, podman: the closure, not only the recipe's list
    assert all(len(entry) == 5 for entry in entries), [entry for entry in entries if len(entry) != 5]
    names = [entry[0] for entry in entries]
    assert len(names) == len(set(names)), "a package is locked twice"
    for name, version, architecture, sha256, path in entries:
        assert len(sha256) == 64 and int(sha256, 16) >= 0, (name, sha256)
        assert path.startswith(("debian/pool/", "debian-security/pool/")), path
        file = urllib.parse.unquote(path.rsplit("/", 1)[1])
        assert file == f"{name}_{version.split(':', 1)[-1]}_{architecture}.deb", (name, version, path)


def test_the_root_key_covers_the_lock(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    shutil.copytree(BUILDROOT, tools / "buildroot")
    before = recipe_key(tools)
    with open(tools / "buildroot" / "packages.lock", "a") as lock:
        lock.write(f"nginx 9.9 amd64 {'0' * 64} debian/pool/main/n/nginx/nginx_9.9_amd64.deb\n")
    assert recipe_key(tools) != before


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTP mirror on loopback serving a folder: (its …/debian URL, the folder)."""
    folder = tmp_path_factory.mktemp("mirror")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/debian", folder
    server.shutdown()


def fetch_locked(tmp_path: Path, mirror_url: str, lines: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
    """buildroot::fetch_locked with a lock of `lines`, into a new folder: its result and the folder."""
    buildroot = tmp_path / "tools" / "buildroot"
    shutil.copytree(BUILDROOT, buildroot)
    (buildroot / "packages.lock").write_text("# a test's lock\n" + "".join(f"{line}\n" for line in lines))
    into = tmp_path / "archives"
    into.mkdir()
    return buildroot_function(buildroot.parent, "fetch_locked", mirror_url, str(into), timeout=120), into


def publish(folder: Path, name: str, content: bytes) -> str:
    """A file in the mirror's pool; its lock line."""
    path = f"debian/pool/main/{name[0]}/{name}/{name}_1.0_all.deb"
    (folder / path).parent.mkdir(parents=True, exist_ok=True)
    (folder / path).write_bytes(content)
    return f"{name} 1.0 all {hashlib.sha256(content).hexdigest()} {path}"


def test_every_locked_file_is_fetched_when_it_matches(tmp_path: Path, mirror: tuple[str, Path]) -> None:
    url, folder = mirror
    lines = [publish(folder, name, f"{name} package".encode()) for name in ("alpha", "beta")]
    result, into = fetch_locked(tmp_path, url, lines)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert sorted(path.name for path in into.iterdir()) == ["alpha_1.0_all.deb", "beta_1.0_all.deb"]
    assert (into / "beta_1.0_all.deb").read_bytes() == b"beta package"


@pytest.mark.parametrize("fault", ["changed on the mirror", "gone from the mirror"])
def test_a_file_that_differs_or_is_gone_stops_with_one_line(
    tmp_path: Path, mirror: tuple[str, Path], fault: str
) -> None:
    url, folder = mirror
    good = publish(folder, "gamma", b"gamma package")
    bad = publish(folder, "delta", b"delta package")
    if fault == "changed on the mirror":
        (folder / bad.split()[4]).write_bytes(b"delta, rebuilt")
    else:
        (folder / bad.split()[4]).unlink()
    result, into = fetch_locked(tmp_path, url, [good, bad])
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tools/bazel: error: Failed to fetch ")
    assert "delta_1.0_all.deb" in result.stderr
    assert ("Hash Sum mismatch" if fault == "changed on the mirror" else "404") in result.stderr
    assert "relock with: " in result.stderr and "tools/buildroot/relock.py" in result.stderr
    assert list(into.iterdir()) == [], "a partial set of packages was left to install"
