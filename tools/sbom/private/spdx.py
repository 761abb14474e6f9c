"""Writes an image's SPDX 2.3 JSON SBOM: the image, every Debian package and every Python
distribution in it, each with its version, purl, the sha256 of the file it was installed from, and
its declared license where the package states one.

    spdx.py --image LAYOUT --name NAME --debian-lock LOCK [--python-files FILES.json] --output OUT

What is in the image comes from the image itself: its dpkg records (`/var/lib/dpkg/status.d/`)
and its `*.dist-info` directories. What each was installed from comes from the locks: the Debian
lock's sha256 per .deb, and the Python lock's files (`<set>.files.json`), where the installed
wheel is the one whose tags are the ones its WHEEL file records. A package that no lock explains
fails the build, with the command that fixes it. The same image always gives the same bytes.
"""

import argparse
import email.parser
import json
import re
import sys
import uuid
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import quote

from tools.oci.layout import blob_path, image_manifests, open_layer, read_json_blob

DPKG_RECORD = re.compile(r"^var/lib/dpkg/status\.d/([^/]+)$")
# A distribution installed in site-packages, or one vendored inside another's package there
# (setuptools/_vendor/...): the second group is the vendoring package's folder.
DIST_INFO = re.compile(r"^(?:.*/)?site-packages/(?:([^/]+)/(?:.+/)?)?([^/]+)-([^/-]+)\.dist-info/(METADATA|WHEEL)$")
DEBIAN_RELOCK = "tools/bazel run //third_party/debian:relock"
PYTHON_RELOCK = "tools/bazel run //third_party/python:relock"
# Trove classifiers that name exactly one SPDX license. Broader ones ("BSD License", "Apache
# Software License") do not say which version, so they stay NOASSERTION.
CLASSIFIER_LICENSES = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: Apache Software License 2.0": "Apache-2.0",
}


class SbomError(Exception):
    """The image holds something the locks do not explain."""


@dataclass
class ImageContents:
    dpkg: dict[str, str]  # package -> its control record
    dists: dict[str, dict[str, str]]  # "name-version" -> {"METADATA": text, "WHEEL": text}
    vendored: dict[str, tuple[str, str]]  # "name-version" -> (the vendoring folder, METADATA)


def read_image(layout: Path) -> tuple[str, str, ImageContents]:
    """(manifest digest, created, contents) of the layout's one image."""
    [(descriptor, manifest)] = image_manifests(layout)
    config = read_json_blob(layout, manifest["config"]["digest"])
    contents = ImageContents({}, {}, {})
    for layer in manifest["layers"]:
        with open_layer(blob_path(layout, layer["digest"])) as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                record, dist = DPKG_RECORD.match(name), DIST_INFO.match(name)
                if not member.isfile() or not (record or dist):
                    continue
                text = archive.extractfile(member).read().decode("utf-8", "replace")
                if record:
                    contents.dpkg[record.group(1)] = text
                    continue
                vendor, key, part = dist.group(1), f"{dist.group(2)}-{dist.group(3)}", dist.group(4)
                if not vendor:
                    contents.dists.setdefault(key, {})[part] = text
                elif part == "METADATA":
                    contents.vendored[key] = (vendor, text)
    return descriptor["digest"], config.get("created", "1970-01-01T00:00:00Z"), contents


def spdx_id(*parts: str) -> str:
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", "-".join(parts))


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def package(
    kind: str, name: str, version: str, purl: str, license_declared: str, installed_from: tuple[str, str] | None
) -> dict:
    """An SPDX package; `installed_from` is (file name, sha256) of the .deb or wheel, if it has one
    of its own (a distribution vendored inside another has not)."""
    entry = {
        "SPDXID": spdx_id(kind, name, version),
        "name": name,
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": license_declared,
        "copyrightText": "NOASSERTION",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}],
    }
    if installed_from:
        entry["packageFileName"] = installed_from[0]
        entry["checksums"] = [{"algorithm": "SHA256", "checksumValue": installed_from[1]}]
    return entry


def debian_packages(dpkg: dict[str, str], lock: dict) -> list[dict]:
    locked = {entry["name"]: entry for group in lock["groups"].values() for entry in group}
    packages = []
    for name, record in sorted(dpkg.items()):
        control = email.parser.Parser().parsestr(record)
        version, architecture = control["Version"], control["Architecture"]
        locked_entry = locked.get(name)
        if locked_entry is None or locked_entry["version"] != version:
            raise SbomError(f"the Debian package {name} {version} in the image is not in the lock; run {DEBIAN_RELOCK}")
        purl = f"pkg:deb/debian/{name}@{quote(version, safe='')}?arch={architecture}&distro=debian-13"
        file_name = locked_entry["path"].rsplit("/", 1)[-1].replace("%2b", "+")
        entry = package("deb", name, version, purl, "NOASSERTION", (file_name, locked_entry["sha256"]))
        # The source package, which Debian's ELF package notes (and scanners that read them) name.
        source, _, source_version = (control["Source"] or name).partition(" ")
        entry["sourceInfo"] = f"built package from: {source} {source_version.strip('()') or version}"
        packages.append(entry)
    return packages


def wheel_tags(file_name: str) -> set[str]:
    """The tags a wheel's file name stands for: `a-1-py2.py3-none-any.whl` -> {py2-none-any, py3-none-any}."""
    python, abi, platform = file_name.removesuffix(".whl").split("-")[-3:]
    return {f"{p}-{a}-{f}" for p in python.split(".") for a in abi.split(".") for f in platform.split(".")}


def installed_file(name: str, wheel: str, files: dict[str, str]) -> tuple[str, str]:
    """(file name, sha256) of the file a distribution was installed from: the wheel whose tags its
    WHEEL file records, or the sdist for one built here."""
    tags = {line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")}
    wheels = [file for file in files if file.endswith(".whl") and wheel_tags(file) == tags]
    # Built here from the sdist: only for a pin that ships no wheel at all (antlr4-python3-runtime),
    # so a wheel whose tags match no locked file fails rather than citing the sdist.
    sdist_only = not any(file.endswith(".whl") for file in files)
    candidates = wheels or ([file for file in files if not file.endswith(".whl")] if sdist_only else [])
    if len(candidates) != 1:
        raise SbomError(f"no locked file of {name} has the tags {sorted(tags)}; run {PYTHON_RELOCK}")
    return candidates[0], files[candidates[0]]


def declared_license(metadata: Message) -> str:
    if metadata["License-Expression"]:
        return metadata["License-Expression"].strip()
    named = {CLASSIFIER_LICENSES[c] for c in metadata.get_all("Classifier") or [] if c in CLASSIFIER_LICENSES}
    return named.pop() if len(named) == 1 else "NOASSERTION"


def pypi_purl(name: str, version: str) -> str:
    return f"pkg:pypi/{re.sub(r'[-_.]+', '-', name).lower()}@{version}"


def python_packages(contents: ImageContents, table: dict[str, dict]) -> list[tuple[str, dict]]:
    """(the SPDXID of what contains it, package) for every distribution: installed ones sit in
    the image, vendored ones inside the distribution that vendors them."""
    packages = []
    for key, texts in sorted(contents.dists.items()):
        metadata = email.parser.Parser().parsestr(texts.get("METADATA", ""))
        name, version = metadata["Name"] or key, metadata["Version"] or ""
        locked = table.get(normalize(name))
        if locked is None or locked["version"] != version:
            raise SbomError(f"the Python distribution {name} {version} in the image is not locked; run {PYTHON_RELOCK}")
        installed_from = installed_file(name, texts.get("WHEEL", ""), locked["files"])
        packages.append(
            ("", package("pypi", name, version, pypi_purl(name, version), declared_license(metadata), installed_from))
        )
    installed = {normalize(entry["name"]): entry["SPDXID"] for _, entry in packages}
    for key, (vendor, text) in sorted(contents.vendored.items()):
        metadata = email.parser.Parser().parsestr(text)
        name, version = metadata["Name"] or key, metadata["Version"] or ""
        entry = package("pypi", name, version, pypi_purl(name, version), declared_license(metadata), None)
        entry["SPDXID"] = spdx_id(f"vendored-{vendor}", name, version)
        entry["comment"] = f"vendored inside site-packages/{vendor}"
        packages.append((installed.get(normalize(vendor), ""), entry))
    return packages


def sbom(name: str, digest: str, created: str, packages: list[tuple[str, dict]]) -> dict:
    """The document: the image, then each (container's SPDXID or "" for the image, package)."""
    image_id = spdx_id("image", name)
    image = {
        "SPDXID": image_id,
        "name": name,
        "versionInfo": digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": digest.removeprefix("sha256:")}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": f"pkg:oci/{name}@{quote(digest, safe='')}",
            }
        ],
    }
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{name}@{digest}",
        # Unique per image, and the same for the same image: derived from its digest.
        "documentNamespace": f"https://spdx.org/spdxdocs/{name}-{uuid.uuid5(uuid.NAMESPACE_URL, digest)}",
        "creationInfo": {"created": created, "creators": ["Tool: mlops-monorepo-tools-sbom"]},
        "packages": [image, *(entry for _, entry in packages)],
        "relationships": [
            {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id},
            *(
                {"spdxElementId": parent or image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": p["SPDXID"]}
                for parent, p in packages
            ),
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--debian-lock", type=Path, required=True)
    parser.add_argument("--python-files", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    digest, created, contents = read_image(args.image)
    table = json.loads(args.python_files.read_text()) if args.python_files else {}
    try:
        packages = [("", deb) for deb in debian_packages(contents.dpkg, json.loads(args.debian_lock.read_text()))]
        packages += python_packages(contents, table)
    except SbomError as error:
        print(f"sbom: error: {args.name}: {error}", file=sys.stderr)
        return 1
    document = sbom(args.name, digest, created, packages)
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
