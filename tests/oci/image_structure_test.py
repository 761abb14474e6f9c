"""Every image, validated by tools that are not ours, and checked for the distroless properties."""

import functools
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.oci_runtime import umoci_readable
from tools.oci.layout import open_layer

IMAGES = {name: Path(os.environ[name]) for name in ("BASE_CC", "BASE_PYTHON3", "HELLO", "SERVER", "AIRFLOW")}
# Files an image declares as its user's (the only ones not owned by root).
NONROOT_OWNED = {"home/nonroot": 0o700, "opt/airflow": 0o755}
FORBIDDEN = ["bin/sh", "bin/bash", "bin/dash", "bin/dpkg", "bin/apt", "bin/apt-get", "bin/busybox"]


def skopeo_inspect(reference: str, *flags: str) -> dict:
    result = subprocess.run(["skopeo", "inspect", *flags, reference], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def layers(image: Path) -> list[Path]:
    manifest = skopeo_inspect(f"oci:{image}", "--raw")
    return [image / "blobs" / "sha256" / layer["digest"].split(":")[1] for layer in manifest["layers"]]


@functools.cache
def members(image: Path) -> dict[str, tarfile.TarInfo]:
    """Every path in the image, as its last layer has it. Kept: several tests read each image's."""
    found: dict[str, tarfile.TarInfo] = {}
    for layer in layers(image):
        with open_layer(layer) as archive:
            found.update({member.name.removeprefix("./"): member for member in archive})
    return found


@pytest.fixture(scope="module", params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> Path:
    return IMAGES[request.param]


def test_skopeo_reads_the_layout_and_agrees_on_the_digest(image: Path) -> None:
    inspected = skopeo_inspect(f"oci:{image}")
    index = json.loads((image / "index.json").read_text())
    assert inspected["Digest"] == index["manifests"][0]["digest"]
    assert inspected["Os"] == "linux" and inspected["Architecture"] == "amd64"
    assert inspected["Created"].startswith("1970-01-01")


def test_umoci_unpacks_it(image: Path, tmp_path: Path) -> None:
    # `raw unpack` applies and verifies every layer as `unpack` does, without hashing each file
    # into an mtree manifest: half the time, for the Airflow image.
    rootfs = tmp_path / "rootfs"
    result = subprocess.run(
        ["umoci", "raw", "unpack", "--rootless", "--image", f"{umoci_readable(image)}:latest", str(rootfs)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (rootfs / "etc" / "passwd").is_file()
    assert (rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt").stat().st_size > 100_000


def test_no_shell_and_no_package_manager(image: Path) -> None:
    files = members(image)
    for path in FORBIDDEN:
        assert path not in files and f"usr/{path}" not in files, path
    assert files["bin"].issym() and files["bin"].linkname == "usr/bin"


def test_runs_as_nonroot_with_labels(image: Path) -> None:
    config = skopeo_inspect(f"oci:{image}", "--config")["config"]
    assert config["User"] == "65532:65532"
    assert "org.opencontainers.image.source" in config["Labels"]
    passwd = {line.split(":")[0]: line.split(":") for line in members_text(image, "etc/passwd").splitlines()}
    assert passwd["nonroot"][2:4] == ["65532", "65532"] and passwd["nonroot"][5] == "/home/nonroot"


def test_revision_is_unstamped_without_stamp() -> None:
    # server/BUILD.bazel labels the revision "{STABLE_GIT_COMMIT}"; only --stamp fills it in.
    labels = skopeo_inspect(f"oci:{IMAGES['SERVER']}", "--config")["config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == "unknown"


def members_text(image: Path, path: str) -> str:
    for layer in reversed(layers(image)):
        with open_layer(layer) as archive:
            for member in archive:
                if member.name.removeprefix("./") == path:
                    return archive.extractfile(member).read().decode()
    raise AssertionError(f"{path} is in no layer")


def test_everything_is_root_owned_except_the_nonroot_home(image: Path) -> None:
    owners = {name: (m.uid, m.gid, m.uname, m.gname, m.mtime) for name, m in members(image).items()}
    others = {name: owner for name, owner in owners.items() if owner[:2] != (0, 0)}
    assert set(others) <= set(NONROOT_OWNED) and "home/nonroot" in others
    assert set(others.values()) == {(65532, 65532, "", "", 0)}
    assert {owner[2:] for owner in owners.values()} == {("", "", 0)}


def test_scanners_find_every_locked_package() -> None:
    lock = json.loads(Path(os.environ["DEBIAN_LOCK"]).read_text())
    files = members(IMAGES["BASE_PYTHON3"])
    # The python3 base holds the base and python groups; the postgres group is airflow/postgres's.
    for entry in (e for group in ("base", "python") for e in lock["groups"][group]):
        record = f"var/lib/dpkg/status.d/{entry['name']}"
        assert record in files, record
    assert f"Version: {lock['groups']['base'][0]['version']}" in members_text(
        IMAGES["BASE_PYTHON3"], f"var/lib/dpkg/status.d/{lock['groups']['base'][0]['name']}"
    )


def test_python_stdlib_is_precompiled_and_docs_are_gone() -> None:
    files = members(IMAGES["BASE_PYTHON3"])
    assert "usr/lib/python3.13/__pycache__/os.cpython-313.pyc" in files
    assert not [name for name in files if name.startswith(("usr/share/man/", "usr/share/locale/"))]
    docs = [name for name in files if name.startswith("usr/share/doc/") and files[name].isfile()]
    assert docs and all(name.endswith("/copyright") for name in docs)


def test_app_layers_come_last_and_separate() -> None:
    hello, base = layers(IMAGES["HELLO"]), layers(IMAGES["BASE_PYTHON3"])
    assert [p.name for p in hello[: len(base)]] == [p.name for p in base]
    with tarfile.open(hello[-1]) as launcher:
        assert launcher.getnames() == ["app", "app/hello"]


def test_the_load_tarball_is_a_docker_archive() -> None:
    tarball = Path(os.environ["HELLO_TARBALL"])
    inspected = skopeo_inspect(f"docker-archive:{tarball}")
    assert inspected["Digest"].startswith("sha256:")
    # A docker archive names layers by their uncompressed digests: the config's diff_ids.
    assert inspected["Layers"] == skopeo_inspect(f"oci:{IMAGES['HELLO']}", "--config")["rootfs"]["diff_ids"]
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["hello:latest"]
