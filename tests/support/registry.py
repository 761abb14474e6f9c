"""Debian's docker-registry, started on 127.0.0.1 with temporary storage: plain HTTP or TLS, open,
behind htpasswd, or behind a token service (tests/support/token_issuer.py); and what a push attached."""

import base64
import json
import os
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.network import free_port, wait_for_http


@dataclass
class RunningRegistry:
    address: str
    storage: Path


@contextmanager
def registry(
    workdir: Path,
    users: dict[str, str] | None = None,
    tls: tuple[Path, Path, Path] | None = None,
    token: object | None = None,
    s3: object | None = None,
) -> Iterator[RunningRegistry]:
    """users: an htpasswd login; tls: (certificate, key, CA) files; token: a TokenIssuer to trust;
    s3: an S3 (tests/support/s3.py) to store blobs in, to which blob GETs are redirected."""
    port = free_port()
    storage = workdir / f"registry-{port}"
    storage.mkdir(parents=True)
    auth = ""
    if users:
        import bcrypt

        htpasswd = storage / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                for user, password in users.items()
            )
        )
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
    if token is not None:
        from tests.support.token_issuer import ISSUER, SERVICE

        auth = (
            f"auth:\n  token:\n    realm: {token.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
            f"    rootcertbundle: {token.ca.pem}\n"
        )
    listen = f"http:\n  addr: 127.0.0.1:{port}\n"
    if tls:
        listen += f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n"
    config = storage / "config.yml"
    backend = f"  filesystem:\n    rootdirectory: {storage / 'data'}\n"
    if s3 is not None:
        backend = (
            f"  s3:\n    accesskey: {s3.access_key}\n    secretkey: {s3.secret_key}\n    region: {s3.region}\n"
            f"    regionendpoint: {s3.endpoint}\n    bucket: {s3.bucket}\n    secure: false\n    v4auth: true\n"
        )
    config.write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n{backend}  delete:\n    enabled: true\n{listen}{auth}"
    )
    log = open(storage / "registry.log", "w")  # noqa: SIM115 (open while the registry runs; closed below)
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        context = ssl.create_default_context(cafile=str(tls[2])) if tls else None
        wait_for_http(
            f"{'https' if tls else 'http'}://127.0.0.1:{port}/v2/",
            expect=401 if users or token else 200,
            alive=lambda: process.poll() is None,
            context=context,
        )
        yield RunningRegistry(f"127.0.0.1:{port}", storage)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def auth_file(path: Path, address: str, user: str, password: str) -> Path:
    """A containers-auth.json (the REGISTRY_AUTH_FILE format) holding one login."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {address: {"auth": token}}}))
    return path


def stored_blobs(running: RunningRegistry) -> list[Path]:
    """Every blob the registry's filesystem storage holds."""
    return sorted((running.storage / "data").rglob("blobs/sha256/*/*/data"))


def attached_sbom(reference: str, digest: str, *flags: str, env: dict[str, str] | None = None) -> tuple[dict, bytes]:
    """(manifest, document) of the SBOM attached to `reference`@`digest` (`docker://HOST/NAME`):
    the artifact under cosign's `sha256-<hex>.sbom` tag, read back with skopeo."""
    tag = f"{reference}:{digest.replace(':', '-')}.sbom"
    environment = {**os.environ, **(env or {})}
    inspected = subprocess.run(
        ["skopeo", "inspect", "--raw", *flags, tag], capture_output=True, text=True, env=environment, check=True
    )
    manifest = json.loads(inspected.stdout)
    with tempfile.TemporaryDirectory() as copy:
        subprocess.run(
            ["skopeo", "copy", "--quiet", *(flag.replace("--", "--src-", 1) for flag in flags), tag, f"dir:{copy}"],
            capture_output=True,
            env=environment,
            check=True,
        )
        document = (Path(copy) / manifest["layers"][0]["digest"].split(":")[1]).read_bytes()
    return manifest, document
