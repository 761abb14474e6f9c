"""Sigstore signing fixtures: a key made with skopeo, the registries.d that stores signatures as
attachments, a policy.json that accepts only images signed by that key, and the two consumers
that enforce it: skopeo copy and podman pull."""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SigningKey:
    private: Path
    public: Path
    passphrase: Path

    @property
    def env(self) -> dict[str, str]:
        """What oci_push and //:release read."""
        return {"OCI_SIGNING_KEY_FILE": str(self.private), "OCI_SIGNING_PASSPHRASE_FILE": str(self.passphrase)}


def signing_key(directory: Path, passphrase: str = "correct horse") -> SigningKey:
    secret = directory / "passphrase"
    secret.write_text(passphrase)
    subprocess.run(
        [
            "skopeo",
            "generate-sigstore-key",
            "--output-prefix",
            str(directory / "key"),
            "--passphrase-file",
            str(secret),
        ],
        check=True,
        capture_output=True,
    )
    return SigningKey(directory / "key.private", directory / "key.pub", secret)


def attachments_config(directory: Path) -> Path:
    """A registries.d folder telling containers-image to read and write sigstore attachments."""
    registries_d = directory / "registries.d"
    registries_d.mkdir()
    (registries_d / "default.yaml").write_text("default-docker:\n  use-sigstore-attachments: true\n")
    return registries_d


def signed_only_policy(directory: Path, registry: str, key: SigningKey) -> Path:
    """Rejects everything but images from `registry` signed by `key` under their own repository name."""
    policy = directory / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "docker": {
                        registry: [
                            {
                                "type": "sigstoreSigned",
                                "keyPath": str(key.public),
                                "signedIdentity": {"type": "matchRepository"},
                            }
                        ]
                    }
                },
            }
        )
    )
    return policy


def verified_copy(
    source: str, destination: Path, policy: Path, attachments: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`skopeo copy` of a plain-HTTP registry image into an OCI layout, allowed only when the
    policy's signature requirement holds: what a consumer that checks signatures would do."""
    return subprocess.run(
        [
            "skopeo",
            "copy",
            "--policy",
            str(policy),
            "--registries.d",
            str(attachments),
            "--src-tls-verify=false",
            "--remove-signatures",
            source,
            f"oci:{destination}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def podman_verified_pull(
    reference: str, policy: Path, attachments: Path, workdir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`podman pull HOST/NAME:TAG` into a store of its own, allowed only when the policy holds:
    what a consumer's podman does. podman reads registries.d from ~/.config/containers, and
    needs a writable /run: it runs in a mount namespace of its own with a tmpfs there, which
    takes the build root's real root user (`no-sandbox` tests)."""
    from tools.containers.podman_config import write_config

    home = workdir / "home"
    shutil.copytree(attachments, home / ".config/containers/registries.d", dirs_exist_ok=True)
    settings = write_config(workdir / "podman", workdir / "podman/storage", workdir / "podman/run")
    return subprocess.run(
        [
            *(
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                'mount -t tmpfs tmpfs /run && exec "$@"',
                "-",
            ),
            *("podman", "--storage-driver", "vfs", "pull", "--quiet", "--signature-policy", str(policy), reference),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **settings, **(env or {}), "HOME": str(home), "PODMAN_IGNORE_CGROUPSV1_WARNING": "1"},
        check=False,
    )
