"""What the rules_oci-style BUILD file beside this test produced, read back with skopeo and from
the layouts themselves: every attribute that file sets, in the form rules_oci takes it."""

import json
import os
import subprocess
import tarfile
from pathlib import Path

from tests.support.registry import registry

INDEX, ON_BASE, SCRATCH = (Path(os.environ[name]) for name in ("INDEX", "ON_BASE", "SCRATCH"))
PUSH, TARBALL = Path(os.environ["PUSH"]), Path(os.environ["TARBALL"])


def manifest(layout: Path) -> dict:
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    return json.loads((layout / "blobs/sha256" / top["digest"].split(":")[1]).read_text())


def config(layout: Path) -> dict:
    return json.loads((layout / "blobs/sha256" / manifest(layout)["config"]["digest"].split(":")[1]).read_text())


def test_scratch_image_takes_platform_and_file_settings() -> None:
    found = config(SCRATCH)
    assert (found["os"], found["architecture"], found["variant"]) == ("linux", "arm64", "v8")
    assert found["created"] == "2024-01-02T03:04:05Z"
    runtime = found["config"]
    assert runtime["Entrypoint"] == ["/app/hello.txt"]
    assert runtime["Env"] == ["GREETING=hello", "PATH=/usr/bin"]
    assert runtime["Labels"] == {"org.opencontainers.image.title": "compat"}
    assert runtime["ExposedPorts"] == {"8080/tcp": {}}
    assert runtime["Volumes"] == {"/data": {}}
    assert manifest(SCRATCH)["annotations"] == {"org.opencontainers.image.source": "https://example.invalid/compat"}
    assert [layer["mediaType"] for layer in manifest(SCRATCH)["layers"]] == ["application/vnd.oci.image.layer.v1.tar"]


def test_an_image_on_a_base_inherits_its_platform_and_keeps_layers_as_given() -> None:
    found = config(ON_BASE)
    assert (found["os"], found["architecture"], found["variant"]) == ("linux", "arm64", "v8")
    assert found["config"]["Entrypoint"] == ["/app/hello.txt"] and found["config"]["Cmd"] == ["--port", "8080"]
    assert "GREETING=hello, world" in found["config"]["Env"]
    assert found["config"]["Labels"]["org.opencontainers.image.version"] == "1.0"
    assert [layer["mediaType"].rsplit(".", 1)[1] for layer in manifest(ON_BASE)["layers"]] == [
        "tar",
        "tar+gzip",
        "tar+zstd",
    ]
    # One tree in three encodings: three blobs, one diff_id.
    assert len({layer["digest"] for layer in manifest(ON_BASE)["layers"]}) == 3
    assert len(set(found["rootfs"]["diff_ids"])) == 1
    inspected = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--raw", f"oci:{ON_BASE}"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert inspected == manifest(ON_BASE)


def test_digest_targets_hold_the_top_digest() -> None:
    for layout, digest_file in ((ON_BASE, os.environ["ON_BASE_DIGEST"]), (INDEX, os.environ["INDEX_DIGEST"])):
        top = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
        assert Path(digest_file).read_text().strip() == top


def test_the_index_lists_both_platforms_with_its_annotations() -> None:
    index = manifest(INDEX)
    assert index["annotations"] == {"org.opencontainers.image.ref.name": "compat"}
    assert [entry["platform"] for entry in index["manifests"]] == [
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "amd64", "os": "linux"},
    ]


def test_load_format_oci_is_an_oci_layout_tarball_named_by_repo_tags_file() -> None:
    with tarfile.open(TARBALL) as archive:
        names = archive.getnames()
        index = json.loads(archive.extractfile("index.json").read())
    assert "manifest.json" not in names and "oci-layout" in names
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "compat:loaded"


def test_push_reads_repository_file_and_adds_tags_to_remote_tags(tmp_path: Path) -> None:
    # The repository file names localhost:5000, where nothing listens: the error shows it was read.
    unread = subprocess.run([str(PUSH), "--insecure"], capture_output=True, text=True, timeout=300)
    assert unread.returncode == 1
    assert unread.stderr.strip().splitlines() == [
        "oci_push: error: cannot reach the registry at localhost:5000: check the address and the network"
    ]
    with registry(tmp_path) as running:
        pushed = subprocess.run(
            [str(PUSH), "--insecure", "-r", f"{running.address}/compat", "-t", "extra"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert pushed.returncode == 0, pushed.stderr
        tags = json.loads(
            subprocess.run(
                ["skopeo", "list-tags", "--tls-verify=false", f"docker://{running.address}/compat"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["Tags"]
        assert sorted(tags) == ["extra", "v1"]
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{running.address}/compat:v1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(raw)["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert pushed.stdout.strip() == Path(os.environ["INDEX_DIGEST"]).read_text().strip()
