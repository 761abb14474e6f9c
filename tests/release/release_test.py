"""//:release against a loopback registry with TLS (a CA the test makes) and token auth (a token
service the test runs): every image pushed by the digest Bazel built, tagged, signed so that a
sigstoreSigned policy accepts it, with its SBOM attached; podman pulls a signed image and refuses
an unsigned or re-named one; the closing table names all three."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.pki import authority, server_certificate
from tests.support.registry import RunningRegistry, attached_sbom, auth_file, registry
from tests.support.signing import (
    SigningKey,
    attachments_config,
    podman_verified_pull,
    signed_only_policy,
    signing_key,
    verified_copy,
)
from tests.support.token_issuer import TokenIssuer, token_issuer

NAMES = ("prediction-server", "mlops-airflow", "mlops-postgres")
IMAGES = {name: Path(os.environ["DIGEST_" + name.replace("-", "_").upper()]).read_text().strip() for name in NAMES}
SBOMS = {name: Path(os.environ["SBOM_" + name.replace("-", "_").upper()]) for name in NAMES}


@dataclass
class Release:
    workdir: Path
    registry: RunningRegistry
    issuer: TokenIssuer
    key: SigningKey
    env: dict[str, str]  # what a consumer needs: the login and the CA
    result: subprocess.CompletedProcess

    @property
    def address(self) -> str:
        return self.registry.address


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory):
    """One release, shared by the checks below: pushing 0.5 GB of images once is enough."""
    workdir = tmp_path_factory.mktemp("release")
    ca = authority(workdir)
    cert, key_file = server_certificate(ca, workdir)
    key = signing_key(workdir, passphrase="release")
    grants = {"ci": {f"mlops/{name}" for name in (*NAMES, "unsigned", "renamed")}}
    with (
        token_issuer(ca, users={"ci": "s3cret"}, grants=grants) as issuer,
        registry(workdir, tls=(cert, key_file, ca.pem), token=issuer) as running,
    ):
        login = auth_file(workdir / "auth.json", running.address, "ci", "s3cret")
        # What CI's runner has: the registry login, the CA it trusts, and the signing key.
        env = {"REGISTRY_AUTH_FILE": str(login), "SSL_CERT_FILE": str(ca.pem)}
        result = subprocess.run(
            [os.environ["RELEASE"], "--registry", f"{running.address}/mlops", "--tag", "v0.1.0"],
            capture_output=True,
            text=True,
            env={**os.environ, **env, **key.env},
            timeout=1200,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        yield Release(workdir, running, issuer, key, env, result)


def test_release_pushes_tags_and_signs_every_image(released: Release) -> None:
    table = released.result.stdout.strip().splitlines()
    assert table[0].split() == ["image", "digest", "tags"]
    assert {tuple(row.split()) for row in table[1:]} == {
        (f"{released.address}/mlops/{name}", digest, "v0.1.0") for name, digest in IMAGES.items()
    }
    assert {f"mlops/{name}:pull,push" for name in NAMES} <= set(released.issuer.issued)  # through tokens

    (verify := released.workdir / "verify").mkdir()
    attachments = attachments_config(verify)
    policy = signed_only_policy(verify, released.address, released.key)
    for name, digest in IMAGES.items():
        reference = f"docker://{released.address}/mlops/{name}@{digest}"
        copied = verified_copy(reference, verify / name, policy, attachments, released.env)
        assert copied.returncode == 0, copied.stderr


def test_every_image_has_its_sbom_attached(released: Release) -> None:
    for name, digest in IMAGES.items():
        manifest, document = attached_sbom(f"docker://{released.address}/mlops/{name}", digest, env=released.env)
        assert manifest["subject"]["digest"] == digest, name
        assert document == SBOMS[name].read_bytes(), name


def test_podman_pulls_the_signed_image_and_refuses_unsigned_or_renamed_ones(released: Release) -> None:
    workdir, running, key, env = released.workdir, released.registry, released.key, released.env
    host = f"docker://{running.address}/mlops"
    postgres = f"{host}/mlops-postgres@{IMAGES['mlops-postgres']}"
    (check := workdir / "podman-check").mkdir()
    attachments = attachments_config(check)
    copy = ["skopeo", "copy", "--quiet", "--registries.d", str(attachments)]
    # The same image without its signature, and with it under another name.
    subprocess.run(
        [*copy, "--remove-signatures", postgres, f"{host}/unsigned:v1"], env={**os.environ, **env}, check=True
    )
    subprocess.run([*copy, postgres, f"{host}/renamed:v1"], env={**os.environ, **env}, check=True)

    policy = signed_only_policy(check, running.address, key)

    def pull(reference: str) -> subprocess.CompletedProcess:
        return podman_verified_pull(reference, policy, attachments, check / "store", env)

    signed = pull(f"{running.address}/mlops/mlops-postgres:v0.1.0")
    assert signed.returncode == 0, signed.stderr
    unsigned = pull(f"{running.address}/mlops/unsigned:v1")
    assert unsigned.returncode != 0 and "a signature was required, but no signature exists" in unsigned.stderr.lower()
    renamed = pull(f"{running.address}/mlops/renamed:v1")
    assert renamed.returncode != 0 and "is not accepted" in renamed.stderr, renamed.stderr


def test_release_without_a_registry_says_so() -> None:
    result = subprocess.run([os.environ["RELEASE"], "--tag", "v1"], capture_output=True, text=True)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "release: error: no registry: pass --registry HOST/ORG (CI: the RELEASE_REGISTRY variable)"
    )
