"""//:release against a loopback registry: every image pushed by the digest Bazel built, tagged,
and signed so that a sigstoreSigned policy accepts it; the closing table names all three."""

import os
import subprocess
from pathlib import Path

from tests.support.registry import registry
from tests.support.signing import attachments_config, signed_only_policy, signing_key, verified_copy

IMAGES = {
    name: Path(os.environ["DIGEST_" + name.replace("-", "_").upper()]).read_text().strip()
    for name in ("prediction-server", "mlops-airflow", "mlops-postgres")
}


def test_release_pushes_tags_and_signs_every_image(tmp_path: Path) -> None:
    key = signing_key(tmp_path, passphrase="release")
    attachments = attachments_config(tmp_path)
    with registry(tmp_path) as running:
        released = subprocess.run(
            [os.environ["RELEASE"], "--registry", f"{running.address}/mlops", "--tag", "v0.1.0", "--insecure"],
            capture_output=True,
            text=True,
            env={**os.environ, **key.env},
            timeout=1200,
        )
        assert released.returncode == 0, released.stderr[-3000:]
        table = released.stdout.strip().splitlines()
        assert table[0].split() == ["image", "digest", "tags"]
        assert {tuple(row.split()) for row in table[1:]} == {
            (f"{running.address}/mlops/{name}", digest, "v0.1.0") for name, digest in IMAGES.items()
        }

        policy = signed_only_policy(tmp_path, running.address, key)
        for name, digest in IMAGES.items():
            copied = verified_copy(
                f"docker://{running.address}/mlops/{name}@{digest}", tmp_path / name, policy, attachments
            )
            assert copied.returncode == 0, copied.stderr


def test_release_without_a_registry_says_so() -> None:
    result = subprocess.run([os.environ["RELEASE"], "--tag", "v1"], capture_output=True, text=True)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "release: error: no registry: pass --registry HOST/ORG (CI: the RELEASE_REGISTRY variable)"
    )
