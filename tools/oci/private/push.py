"""Pushes an image layout (one image or an index) to a registry with skopeo, as rules_oci's
oci_push does with crane: first by digest, then one tag at a time.

skopeo (containers-image) brings the registry protocol: credentials from REGISTRY_AUTH_FILE,
podman's auth.json or docker's config.json (credHelpers and credsStore included), TLS checks,
Bearer tokens and their renewal, retries, blobs the registry already has left unsent, and every
manifest written after its blobs, so a tag never points at missing content.
"""

import argparse
import ipaddress
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tools.oci.layout import MANIFEST, Json, image_manifests, top_descriptor, write_blob, write_index, write_json_blob
from tools.oci.private.settings_files import read_names

REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
# skopeo's last line -> what to say: (pattern, message template, {host} and {repository} filled in).
FAILURES = [
    (
        r"x509|certificate",
        "{host}'s TLS certificate is not trusted: add its CA to the system's trust store "
        "(or /etc/containers/certs.d/{host}/ca.crt)",
    ),
    (
        r"server gave HTTP response to HTTPS client",
        "{host} speaks plain HTTP: pass --insecure (loopback) or --insecure-host {host}",
    ),
    (
        r"insufficient_scope|denied|not authorized to|requested access to the resource is denied",
        "{host} refused access to {repository}: the login or token does not cover that repository",
    ),
    (
        r"unauthorized|authentication required|invalid username/password|401",
        "{host} refused the credentials: log in with 'podman login {host}' (or set REGISTRY_AUTH_FILE)",
    ),
    (
        r"passphrase|decrypt|private key|cosign|sigstore",
        "the signing key was refused (wrong key file or passphrase): "
        "check OCI_SIGNING_KEY_FILE and OCI_SIGNING_PASSPHRASE_FILE",
    ),
    (
        r"connection refused|no such host|i/o timeout|network is unreachable|dial tcp",
        "cannot reach the registry at {host}: check the address and the network",
    ),
]


class PushError(Exception):
    """A failure with a message that says what to fix."""


def split_reference(reference: str) -> tuple[str, str]:
    """'host[:port]/name' -> (host, name), checked against the distribution spec's grammar."""
    host, _, name = reference.partition("/")
    if not name or not ("." in host or ":" in host or host == "localhost"):
        raise PushError(f"repository {reference!r} must start with a registry host, e.g. 127.0.0.1:5000/{reference}")
    if not REPOSITORY.match(name):
        raise PushError(f"invalid repository name {name!r}: use lowercase letters, digits and . _ - / separators")
    return host, name


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") else host[1 : host.index("]")]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class Signing:
    """A sigstore key (skopeo generate-sigstore-key) and its passphrase file: signatures go to the
    registry as cosign-style attachments (the `sha256-<digest>.sig` tag)."""

    key: Path
    passphrase: Path
    registries_d: Path

    @staticmethod
    def from_paths(key: str, passphrase: str, workdir: Path) -> "Signing | None":
        if not key and not passphrase:
            return None
        if not key or not passphrase:
            raise PushError(
                "signing needs both OCI_SIGNING_KEY_FILE and OCI_SIGNING_PASSPHRASE_FILE "
                "(or --sign-key and --sign-passphrase-file)"
            )
        for path in (key, passphrase):
            if not os.access(path, os.R_OK):
                raise PushError(f"cannot read {path}: point --sign-key/--sign-passphrase-file at the CI secret's files")
        registries_d = workdir / "registries.d"
        registries_d.mkdir()
        (registries_d / "sigstore.yaml").write_text("default-docker:\n  use-sigstore-attachments: true\n")
        return Signing(Path(key), Path(passphrase), registries_d)


def skopeo_copy(
    layout: Path, repository: str, reference: str, plain_http: bool, multi_image: bool, signing: Signing | None = None
) -> None:
    """One `skopeo copy` to repository + reference (`@sha256:...` or `:tag`). Raises PushError with one line."""
    destination = repository + reference
    command = ["skopeo", "copy", "--preserve-digests", "--retry-times", "3"]
    if multi_image:
        command.append("--all")
    if plain_http:
        command.append("--dest-tls-verify=false")
    if signing:
        command += [
            "--registries.d",
            str(signing.registries_d),
            "--sign-by-sigstore-private-key",
            str(signing.key),
            "--sign-passphrase-file",
            str(signing.passphrase),
        ]
    result = subprocess.run([*command, f"oci:{layout}", f"docker://{destination}"], capture_output=True, text=True)
    if result.returncode != 0:
        raise PushError(explain(result.stderr, repository, destination))


def explain(stderr: str, repository: str, destination: str) -> str:
    host = repository.split("/", 1)[0]
    last = (stderr.strip().splitlines() or ["skopeo failed with no output"])[-1]
    for pattern, message in FAILURES:
        if re.search(pattern, last, re.IGNORECASE):
            return message.format(host=host, repository=repository)
    return f"skopeo copy to {destination} failed: {last}"


SPDX_JSON = "application/spdx+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def sbom_artifact(sbom: Path, subject: Json, workdir: Path) -> Path:
    """An OCI 1.1 artifact layout holding the SBOM, its `subject` the pushed image, so that a
    registry with the referrers API can list it under the image (docker-registry 2.8, the one
    tested here, has none: clients find it by the cosign-style tag)."""
    layout = workdir / "sbom"
    config = write_blob(layout, b"{}", EMPTY)
    document = write_blob(layout, sbom.read_bytes(), SPDX_JSON)
    document["annotations"] = {"org.opencontainers.image.title": sbom.name}
    subject = {key: subject[key] for key in ("mediaType", "digest", "size")}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": SPDX_JSON,
        "config": config,
        "layers": [document],
        "subject": subject,
    }
    write_index(layout, {**write_json_blob(layout, manifest, MANIFEST), "artifactType": SPDX_JSON})
    return layout


def sbom_tag(digest: str) -> str:
    """cosign's tag for an image's attached SBOM: `sha256-<hex>.sbom`."""
    return digest.replace(":", "-") + ".sbom"


def push(
    layout: Path,
    repository: str,
    tags: list[str],
    plain_http: bool,
    workdir: Path,
    signing: Signing | None = None,
    sbom: Path | None = None,
) -> str:
    split_reference(repository)  # a malformed repository fails here, before anything is sent
    for tag in tags:
        if not TAG.match(tag):
            raise PushError(
                f"invalid tag {tag!r}: up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            )
    top = top_descriptor(layout)
    images = image_manifests(layout)
    multi_image = top["digest"] != images[0][0]["digest"]
    # Signed once, by digest: a signature covers the manifest whatever tags point at it.
    skopeo_copy(layout, repository, f"@{top['digest']}", plain_http, multi_image, signing)
    if sbom:
        # Before any tag: a tagged image always has its SBOM (signed like the image).
        artifact = sbom_artifact(sbom, top, workdir)
        skopeo_copy(artifact, repository, f":{sbom_tag(top['digest'])}", plain_http, False, signing)
    for tag in tags:
        skopeo_copy(layout, repository, f":{tag}", plain_http, multi_image)
    print(
        f"oci_push: {repository}@{top['digest']}"
        + (f" tagged {', '.join(tags)}" if tags else " (no tags)")
        + ("; signed" if signing else "")
        + ("; SBOM attached" if sbom else ""),
        file=sys.stderr,
    )
    return top["digest"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True, help=argparse.SUPPRESS)
    parser.add_argument("--default-repository", default="", help=argparse.SUPPRESS)
    parser.add_argument("--repository-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tags-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sbom", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("-r", "--repository", help="registry/name, e.g. 127.0.0.1:5000/app (replaces the rule's)")
    parser.add_argument("-t", "--tag", action="append", default=[], help="a tag to add, repeatable")
    parser.add_argument("--insecure", action="store_true", help="plain HTTP without TLS, for a loopback registry")
    parser.add_argument("--insecure-host", default="", help="plain HTTP for this host[:port], which is not loopback")
    parser.add_argument(
        "--sign-key",
        default=os.environ.get("OCI_SIGNING_KEY_FILE", ""),
        help="a sigstore private key file (default: $OCI_SIGNING_KEY_FILE); signs what is pushed",
    )
    parser.add_argument(
        "--sign-passphrase-file",
        default=os.environ.get("OCI_SIGNING_PASSPHRASE_FILE", ""),
        help="its passphrase, in a file (default: $OCI_SIGNING_PASSPHRASE_FILE)",
    )
    args = parser.parse_args()
    repository = args.repository or args.default_repository
    if not repository and args.repository_file:
        repository = args.repository_file.read_text().strip()
    tags = read_names(args.tags_file) + args.tag
    try:
        if not repository:
            raise PushError("no repository: set oci_push(repository = ...) or pass --repository REGISTRY/NAME")
        host, _ = split_reference(repository)
        plain_http = bool(args.insecure_host) and args.insecure_host == host
        if args.insecure_host and not plain_http:
            raise PushError(f"--insecure-host {args.insecure_host} does not name the repository's host {host}")
        if args.insecure:
            if not is_loopback(host):
                raise PushError(
                    f"--insecure is for loopback registries only; to send {host} plain HTTP, "
                    f"name it: --insecure-host {host}"
                )
            plain_http = True
        with tempfile.TemporaryDirectory(prefix="oci-push-") as workdir:
            signing = Signing.from_paths(args.sign_key, args.sign_passphrase_file, Path(workdir))
            digest = push(args.image, repository, tags, plain_http, Path(workdir), signing, args.sbom)
    except PushError as error:
        print(f"oci_push: error: {error}", file=sys.stderr)
        return 1
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
