"""oci_push (skopeo underneath) against Debian's docker-registry on 127.0.0.1, checked with skopeo."""

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.network import CountingProxy, free_port, wait_for
from tests.support.pki import authority, server_certificate
from tests.support.registry import attached_sbom, auth_file, registry, stored_blobs
from tests.support.s3 import moto_s3
from tests.support.signing import attachments_config, signed_only_policy, signing_key, verified_copy
from tests.support.token_issuer import token_issuer

HELLO = Path(os.environ["HELLO"])
HELLO_INDEX = Path(os.environ["HELLO_INDEX"])
PUSH = Path(os.environ["PUSH"])
PUSH_INDEX = Path(os.environ["PUSH_INDEX"])
PUSH_WITH_SBOM = Path(os.environ["PUSH_WITH_SBOM"])
HELLO_SBOM = Path(os.environ["HELLO_SBOM"])


def push(*args: str, env: dict[str, str] | None = None, launcher: Path = PUSH) -> subprocess.CompletedProcess:
    """`bazel run //examples/hello:image_push -- ARGS`, as Bazel would start it."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(launcher), *args], capture_output=True, text=True, env=environment, timeout=600, check=False
    )


def manifest_digest(reference: str, *flags: str) -> str:
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *flags, reference], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)["Digest"]


def local_digest(layout: Path) -> str:
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


def test_push_pull_back_and_push_again_without_layer_bytes(tmp_path: Path) -> None:
    with registry(tmp_path) as running:
        proxy = CountingProxy(int(running.address.split(":")[1]))
        repository = f"127.0.0.1:{proxy.port}/hello"
        first = push("--repository", repository, "--tag", "v1", "--insecure")
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == local_digest(HELLO)
        first_bytes = proxy.sent

        pulled = tmp_path / "pulled"
        subprocess.run(
            ["skopeo", "copy", "--src-tls-verify=false", f"docker://{running.address}/hello:v1", f"oci:{pulled}:v1"],
            check=True,
            capture_output=True,
        )
        assert manifest_digest(f"oci:{pulled}:v1") == local_digest(HELLO)
        assert manifest_digest(f"docker://{running.address}/hello:v1") == local_digest(HELLO)

        uploads = [path for method, path in proxy.requests if "/blobs/uploads/" in path]
        assert len(uploads) >= 5, proxy.requests  # the first push really sent the config and layers
        layer_sizes = [
            layer["size"]
            for layer in json.loads((HELLO / "blobs/sha256" / local_digest(HELLO).split(":")[1]).read_text())["layers"]
        ]
        assert first_bytes > sum(layer_sizes)

        proxy.sent, proxy.requests = 0, []
        second = push("--repository", repository, "--tag", "v1", "--insecure")
        assert second.returncode == 0, second.stderr
        assert not [path for method, path in proxy.requests if method in ("POST", "PATCH")], proxy.requests
        puts = [path for method, path in proxy.requests if method == "PUT"]
        assert puts and all("/manifests/" in path for path in puts), proxy.requests
        assert proxy.sent < 16384, proxy.sent  # request headers and manifests, no layer bytes
        proxy.close()


def test_it_pushes_by_digest_then_adds_each_tag(tmp_path: Path) -> None:
    with registry(tmp_path) as running:
        result = push("--repository", f"{running.address}/hello", "-t", "v2", "--insecure")
        assert result.returncode == 0, result.stderr
        digest = local_digest(HELLO)
        assert manifest_digest(f"docker://{running.address}/hello@{digest}") == digest
        tags = json.loads(
            subprocess.run(
                ["skopeo", "list-tags", "--tls-verify=false", f"docker://{running.address}/hello"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["Tags"]
        assert sorted(tags) == ["latest", "v2"]  # the rule's remote_tags, plus -t


def test_without_tags_it_pushes_by_digest_only(tmp_path: Path) -> None:
    with registry(tmp_path) as running:
        result = push("--repository", f"{running.address}/bare", "--insecure", launcher=PUSH_INDEX)
        assert result.returncode == 0, result.stderr
        bare = f"docker://{running.address}/bare@{local_digest(HELLO_INDEX)}"
        assert manifest_digest(bare, "--no-tags") == local_digest(HELLO_INDEX)
        listed = subprocess.run(
            ["skopeo", "list-tags", "--tls-verify=false", f"docker://{running.address}/bare"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert json.loads(listed.stdout or '{"Tags": []}')["Tags"] in ([], None), listed.stdout


def test_an_index_pushes_with_its_image(tmp_path: Path) -> None:
    with registry(tmp_path) as running:
        result = push("--repository", f"{running.address}/hello", "--tag", "multi", "--insecure", launcher=PUSH_INDEX)
        assert result.returncode == 0, result.stderr
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{running.address}/hello:multi"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        index = json.loads(raw)
        assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert [m["digest"] for m in index["manifests"]] == [local_digest(HELLO)]
        assert index["manifests"][0]["platform"] == {"architecture": "amd64", "os": "linux"}
        assert manifest_digest(f"docker://{running.address}/hello:multi") == local_digest(HELLO_INDEX)
        child = f"docker://{running.address}/hello@{local_digest(HELLO)}"
        assert manifest_digest(child) == local_digest(HELLO)


def test_login_is_used_and_wrong_credentials_say_so(tmp_path: Path) -> None:
    with registry(tmp_path, users={"ci": "s3cret"}) as running:
        repository = f"{running.address}/hello"
        good = auth_file(tmp_path / "good.json", running.address, "ci", "s3cret")
        result = push("--repository", repository, "--insecure", env={"REGISTRY_AUTH_FILE": str(good)})
        assert result.returncode == 0, result.stderr

        bad = auth_file(tmp_path / "bad.json", running.address, "ci", "wrong")
        for auth in (bad, tmp_path / "none.json"):
            result = push("--repository", repository, "--insecure", env={"REGISTRY_AUTH_FILE": str(auth)})
            assert result.returncode == 1
            assert result.stderr.strip().splitlines() == [
                f"oci_push: error: {running.address} refused the credentials: log in with 'podman login {running.address}' "
                "(or set REGISTRY_AUTH_FILE)"
            ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repository", "127.0.0.1:5000/Hello"], "invalid repository name 'Hello'"),
        (["--repository", "hello"], "must start with a registry host"),
        (["--repository", "127.0.0.1:5000/hello", "--tag=-bad"], "invalid tag '-bad'"),
        ([], "no repository: set oci_push(repository = ...) or pass --repository"),
        (["--repository", "registry.example.com/hello"], "--insecure is for loopback registries only"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(args: list[str], message: str) -> None:
    result = push(*args, "--insecure")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"oci_push: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert message in result.stderr


def test_an_unreachable_registry_gives_one_line() -> None:
    result = push("--repository", f"127.0.0.1:{free_port()}/hello", "--insecure")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oci_push: error: cannot reach the registry at 127.0.0.1:")


def test_tls_with_a_trusted_ca_pushes_and_an_untrusted_one_pushes_nothing(tmp_path: Path) -> None:
    ca = authority(tmp_path)
    cert, key = server_certificate(ca, tmp_path)
    with registry(tmp_path, tls=(cert, key, ca.pem)) as running:
        untrusted = push("--repository", f"{running.address}/hello", "-t", "v1")
        assert untrusted.returncode == 1
        assert untrusted.stderr.strip().splitlines() == [
            f"oci_push: error: {running.address}'s TLS certificate is not trusted: add its CA to the system's trust "
            f"store (or /etc/containers/certs.d/{running.address}/ca.crt)"
        ]
        assert stored_blobs(running) == []

        trusted = push("--repository", f"{running.address}/hello", "-t", "v1", env={"SSL_CERT_FILE": str(ca.pem)})
        assert trusted.returncode == 0, trusted.stderr
        pulled = subprocess.run(
            ["skopeo", "inspect", f"docker://{running.address}/hello:v1"],
            capture_output=True,
            text=True,
            env={**os.environ, "SSL_CERT_FILE": str(ca.pem)},
            check=True,
        )
        assert json.loads(pulled.stdout)["Digest"] == local_digest(HELLO)


def test_token_auth_push_pull_bad_password_and_an_uncovered_repository(tmp_path: Path) -> None:
    ca = authority(tmp_path)
    with (
        token_issuer(ca, users={"ci": "s3cret"}, grants={"ci": {"hello"}}) as issuer,
        registry(tmp_path, token=issuer) as running,
    ):
        good = auth_file(tmp_path / "good.json", running.address, "ci", "s3cret")
        pushed = push(
            "--repository", f"{running.address}/hello", "-t", "v1", "--insecure", env={"REGISTRY_AUTH_FILE": str(good)}
        )
        assert pushed.returncode == 0, pushed.stderr
        assert "hello:pull,push" in issuer.issued  # the push really went through a token
        pulled = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--creds", "ci:s3cret", f"docker://{running.address}/hello:v1"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(pulled.stdout)["Digest"] == local_digest(HELLO)

        bad = auth_file(tmp_path / "bad.json", running.address, "ci", "wrong")
        refused = push(
            "--repository", f"{running.address}/hello", "-t", "v2", "--insecure", env={"REGISTRY_AUTH_FILE": str(bad)}
        )
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            f"oci_push: error: {running.address} refused the credentials: log in with 'podman login {running.address}' "
            "(or set REGISTRY_AUTH_FILE)"
        ]

        blobs_before = stored_blobs(running)
        uncovered = push(
            "--repository", f"{running.address}/other", "-t", "v1", "--insecure", env={"REGISTRY_AUTH_FILE": str(good)}
        )
        assert uncovered.returncode == 1
        lines = uncovered.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"oci_push: error: {running.address} refused"), lines
        assert not (running.storage / "data/docker/registry/v2/repositories/other/_manifests").exists()
        assert stored_blobs(running) == blobs_before


def test_a_token_that_expires_mid_push_is_renewed(tmp_path: Path) -> None:
    # Tokens live 30 s; skopeo keeps one for 60 s from its `issued_at` (containers-image's floor)
    # and the registry honours one for 60 s past its `exp` (its clock-skew leeway). An issuer whose
    # clock is 50 s behind makes skopeo renew 10 s after the first token, and the registry refuse
    # that token 40 s after it. A link that holds every request 1 s makes the push outlast 10 s,
    # while no request made with the first token arrives after the registry stops honouring it.
    ca = authority(tmp_path)
    with (
        token_issuer(ca, users={"ci": "s3cret"}, grants={"ci": {"hello"}}, lifetime=30, clock_lag=50) as issuer,
        registry(tmp_path, token=issuer) as running,
    ):
        proxy = CountingProxy(int(running.address.split(":")[1]), delay=1)
        address = f"127.0.0.1:{proxy.port}"
        login = auth_file(tmp_path / "login.json", address, "ci", "s3cret")
        # No tag: one skopeo process, so a second token for the same scope can only be a renewal.
        pushed = push("--repository", f"{address}/hello", "--insecure", env={"REGISTRY_AUTH_FILE": str(login)})
        proxy.close()
        assert pushed.returncode == 0, pushed.stderr
        assert issuer.issued.count("hello:pull,push") >= 2, (issuer.issued, len(proxy.requests))
        assert manifest_digest(f"docker://{running.address}/hello@{local_digest(HELLO)}", "--creds", "ci:s3cret") == (
            local_digest(HELLO)
        )

        def refused(token: str) -> bool:
            request = urllib.request.Request(
                f"http://{running.address}/v2/hello/tags/list", headers={"Authorization": f"Bearer {token}"}
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except urllib.error.HTTPError as error:
                return error.code == 401
            return False

        # The first token is refused by now: the push succeeded on the renewed one.
        wait_for(lambda: refused(issuer.tokens[0]), timeout=60, interval=1)
        assert not refused(issuer.tokens[-1])


def test_blob_pulls_redirected_to_the_storage_host_carry_no_registry_credentials(tmp_path: Path) -> None:
    # The registry keeps blobs in S3 on another host (127.0.0.2) and answers blob GETs with a
    # redirect to a presigned URL there; a recording proxy stands in front of that S3.
    with moto_s3(tmp_path, bucket="registry", host="127.0.0.2", check_auth=False) as s3:
        storage = CountingProxy(int(s3.endpoint.rsplit(":", 1)[1]), host="127.0.0.2")
        s3.endpoint = f"http://127.0.0.2:{storage.port}"
        with registry(tmp_path, users={"ci": "s3cret"}, s3=s3) as running:
            login = auth_file(tmp_path / "login.json", running.address, "ci", "s3cret")
            env = {"REGISTRY_AUTH_FILE": str(login)}
            pushed = push("--repository", f"{running.address}/hello", "-t", "v1", "--insecure", env=env)
            assert pushed.returncode == 0, (running.storage / "registry.log").read_text()[-5000:]
            storage.authorizations.clear()
            pulled = subprocess.run(
                [
                    "skopeo",
                    "copy",
                    "--src-tls-verify=false",
                    f"docker://{running.address}/hello:v1",
                    f"oci:{tmp_path / 'pulled'}:v1",
                ],
                capture_output=True,
                text=True,
                env={**os.environ, **env},
                check=False,
            )
            assert pulled.returncode == 0, pulled.stderr
        storage.close()
    assert manifest_digest(f"oci:{tmp_path / 'pulled'}:v1") == local_digest(HELLO)
    redirected = [(path, auth) for path, auth in storage.authorizations if "X-Amz-Signature=" in path]
    layers = json.loads((HELLO / "blobs/sha256" / local_digest(HELLO).split(":")[1]).read_text())["layers"]
    assert len(redirected) >= len(layers), storage.authorizations  # the blobs really came from the storage host
    assert [auth for _, auth in redirected if auth is not None] == []
    # Nor did the registry's own S3 calls carry the client's login: only AWS signatures.
    assert all(auth is None or auth.startswith("AWS4-HMAC-SHA256 ") for _, auth in storage.authorizations)


def test_signed_push_verifies_and_unsigned_retagged_or_wrong_key_pushes_are_refused(tmp_path: Path) -> None:
    key = signing_key(tmp_path)
    attachments = attachments_config(tmp_path)
    with registry(tmp_path) as running:
        signed = push("--repository", f"{running.address}/signed", "-t", "v1", "--insecure", env=key.env)
        assert signed.returncode == 0, signed.stderr
        assert "; signed" in signed.stderr
        assert push("--repository", f"{running.address}/unsigned", "-t", "v1", "--insecure").returncode == 0
        # The signed image, signature included, copied under another name.
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--registries.d",
                str(attachments),
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                f"docker://{running.address}/signed:v1",
                f"docker://{running.address}/retagged:v1",
            ],
            check=True,
            capture_output=True,
        )
        policy = signed_only_policy(tmp_path, running.address, key)

        def verified_pull(name: str) -> subprocess.CompletedProcess:
            return verified_copy(f"docker://{running.address}/{name}:v1", tmp_path / f"{name}:v1", policy, attachments)

        assert verified_pull("signed").returncode == 0
        unsigned = verified_pull("unsigned")
        assert unsigned.returncode != 0 and "signature" in unsigned.stderr.lower(), unsigned.stderr
        retagged = verified_pull("retagged")
        assert retagged.returncode != 0 and "identity" in retagged.stderr.lower(), retagged.stderr

        key.passphrase.write_text("wrong horse")
        refused = push("--repository", f"{running.address}/wrongkey", "-t", "v1", "--insecure", env=key.env)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            "oci_push: error: the signing key was refused (wrong key file or passphrase): "
            "check OCI_SIGNING_KEY_FILE and OCI_SIGNING_PASSPHRASE_FILE"
        ]
        assert not (running.storage / "data/docker/registry/v2/repositories/wrongkey").exists()


def test_the_sbom_goes_with_the_image_as_a_signed_artifact_before_any_tag(tmp_path: Path) -> None:
    key = signing_key(tmp_path)
    attachments = attachments_config(tmp_path)
    with registry(tmp_path) as running:
        proxy = CountingProxy(int(running.address.split(":")[1]))
        repository = f"127.0.0.1:{proxy.port}/hello"
        pushed = push("--repository", repository, "-t", "v1", "--insecure", env=key.env, launcher=PUSH_WITH_SBOM)
        assert pushed.returncode == 0, pushed.stderr
        assert "; SBOM attached" in pushed.stderr
        digest = local_digest(HELLO)
        manifest_puts = [path for method, path in proxy.requests if method == "PUT" and "/manifests/" in path]
        # By digest, then the SBOM (and its signature, a tag too), and the image's tag last.
        assert manifest_puts[-1].endswith("/manifests/v1"), manifest_puts
        sbom_put = manifest_puts.index(f"/v2/hello/manifests/{digest.replace(':', '-')}.sbom")
        assert sbom_put < len(manifest_puts) - 1

        # Signatures name the host they were pushed to: read back through the same address.
        manifest, document = attached_sbom(f"docker://{repository}", digest, "--tls-verify=false")
        assert document == HELLO_SBOM.read_bytes()
        assert manifest["artifactType"] == "application/spdx+json"
        assert manifest["subject"]["digest"] == digest
        assert json.loads(document)["packages"][0]["versionInfo"] == digest

        policy = signed_only_policy(tmp_path, f"127.0.0.1:{proxy.port}", key)
        sbom_reference = f"docker://{repository}:{digest.replace(':', '-')}.sbom"
        verified = verified_copy(sbom_reference, tmp_path / "sbom", policy, attachments)
        assert verified.returncode == 0, verified.stderr
        proxy.close()
