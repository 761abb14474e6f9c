"""oci_push against Debian's docker-registry on 127.0.0.1, checked with skopeo."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.network import CountingProxy, free_port
from tests.support.registry import auth_file, registry

HELLO = Path(os.environ["HELLO"])
HELLO_INDEX = Path(os.environ["HELLO_INDEX"])
PUSH = Path(os.environ["PUSH"])
PUSH_INDEX = Path(os.environ["PUSH_INDEX"])


def push(*args: str, env: dict[str, str] | None = None, launcher: Path = PUSH) -> subprocess.CompletedProcess:
    """`bazel run //examples/hello:image_push -- ARGS`, as Bazel would start it."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run([str(launcher), *args], capture_output=True, text=True, env=environment, timeout=600, check=False)


def manifest_digest(reference: str, *flags: str) -> str:
    result = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *flags, reference],
                            capture_output=True, text=True, check=True)
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
        subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{running.address}/hello:v1",
                        f"oci:{pulled}:v1"], check=True, capture_output=True)
        assert manifest_digest(f"oci:{pulled}:v1") == local_digest(HELLO)
        assert manifest_digest(f"docker://{running.address}/hello:v1") == local_digest(HELLO)

        uploads = [path for method, path in proxy.requests if "/blobs/uploads/" in path]
        assert len(uploads) >= 5, proxy.requests  # the first push really sent the config and layers
        layer_sizes = [layer["size"] for layer in json.loads(
            (HELLO / "blobs/sha256" / local_digest(HELLO).split(":")[1]).read_text())["layers"]]
        assert first_bytes > sum(layer_sizes)

        proxy.sent, proxy.requests = 0, []
        second = push("--repository", repository, "--tag", "v1", "--insecure")
        assert second.returncode == 0, second.stderr
        assert "uploaded 0 blobs" in second.stderr
        assert {method for method, _ in proxy.requests} == {"HEAD", "PUT"}, proxy.requests
        assert [path for method, path in proxy.requests if method == "PUT"] == ["/v2/hello/manifests/v1"]
        assert proxy.sent < 8192, proxy.sent  # request headers and one manifest, no layer bytes
        proxy.close()


def test_chunked_uploads_give_the_same_image(tmp_path: Path) -> None:
    with registry(tmp_path) as running:
        proxy = CountingProxy(int(running.address.split(":")[1]))
        result = push("--repository", f"127.0.0.1:{proxy.port}/chunked", "--insecure", "--chunk-size", str(1 << 20))
        assert result.returncode == 0, result.stderr
        patches = [path for method, path in proxy.requests if method == "PATCH"]
        assert len(patches) > 10, proxy.requests  # the 6.9 and 12.8 MB layers went in 1 MiB chunks
        assert manifest_digest(f"docker://{running.address}/chunked:latest") == local_digest(HELLO)
        pulled = tmp_path / "pulled"
        subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{running.address}/chunked:latest",
                        f"oci:{pulled}:latest"], check=True, capture_output=True)
        proxy.close()


def test_an_index_pushes_with_its_image(tmp_path: Path) -> None:
    with registry(tmp_path) as running:
        result = push("--repository", f"{running.address}/hello", "--tag", "multi", "--insecure", launcher=PUSH_INDEX)
        assert result.returncode == 0, result.stderr
        raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{running.address}/hello:multi"],
                             capture_output=True, text=True, check=True).stdout
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
        result = push("--repository", repository, "--insecure", env={"REGISTRY_AUTH_FILE": str(bad)})
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1].startswith(f"oci_push: error: {running.address} refused the credentials")

        result = push("--repository", repository, "--insecure", env={"REGISTRY_AUTH_FILE": str(tmp_path / "none.json")})
        assert result.returncode == 1
        assert f"requires a login: run 'podman login {running.address}'" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--repository", "127.0.0.1:5000/Hello"], "invalid repository name 'Hello'"),
    (["--repository", "hello"], "must start with a registry host"),
    (["--repository", "127.0.0.1:5000/hello", "--tag=-bad"], "invalid tag '-bad'"),
    ([], "no repository: set oci_push(repository = ...) or pass --repository"),
])
def test_bad_input_gives_one_line_and_exit_1(args: list[str], message: str) -> None:
    result = push(*args, "--insecure")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"oci_push: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert message in result.stderr


def test_an_unreachable_registry_gives_one_line() -> None:
    result = push("--repository", f"127.0.0.1:{free_port()}/hello", "--insecure")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oci_push: error: cannot reach the registry at http://127.0.0.1:")
