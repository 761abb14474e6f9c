"""The GitHub Actions workflow: tests on every push and pull request with the README's command,
and a release only on version tags, after the tests, with every credential from secrets."""

import os
import re
from pathlib import Path

import yaml

TEXT = Path(os.environ["WORKFLOW"]).read_text()
WORKFLOW = yaml.safe_load(TEXT)
TRIGGERS = WORKFLOW[True]  # YAML 1.1 reads the key `on` as true


def test_it_tests_every_push_and_pull_request_with_the_readme_command() -> None:
    assert TRIGGERS["push"]["branches"] == ["**"] and "pull_request" in TRIGGERS
    test = WORKFLOW["jobs"]["test"]
    assert any("bash .ci/run" in step.get("run", "") for step in test["steps"])
    assert "tools/bazel test //..." in Path(os.environ["CI_RUN"]).read_text()


def test_the_release_runs_only_on_tags_after_the_tests_with_secrets() -> None:
    release = WORKFLOW["jobs"]["release"]
    assert release["if"] == "startsWith(github.ref, 'refs/tags/v')" and release["needs"] == "test"
    assert TRIGGERS["push"]["tags"] == ["v*"]
    steps = "\n".join(step.get("run", "") for step in release["steps"])
    assert "//:release" in steps and "--config=release" in steps
    secrets = set(re.findall(r"secrets\.(\w+)", TEXT))
    assert secrets == {"REGISTRY_USER", "REGISTRY_PASSWORD", "OCI_SIGNING_KEY", "OCI_SIGNING_PASSPHRASE"}
    # Secrets are written to the runner's temporary folder, with a private umask, never the checkout.
    assert "umask 077" in steps and "$RUNNER_TEMP" in steps


def test_every_job_reaches_the_debian_mirror_from_a_repository_variable() -> None:
    # An Ubuntu runner's apt sources name no Debian mirror, and no host is named in the repository.
    assert WORKFLOW["env"]["BAZEL_BUILDROOT_MIRROR"] == "${{ vars.BAZEL_BUILDROOT_MIRROR }}"
    for name, job in WORKFLOW["jobs"].items():
        runs = [step.get("run", "") for step in job["steps"]]
        assert any("apt-get install" in run and "debian-archive-keyring" in run for run in runs), name
        sudo = [run for run in runs if run.startswith("sudo --preserve-env=")]
        assert sudo and all("BAZEL_BUILDROOT_MIRROR" in run.split()[1].split(",") for run in sudo), (name, sudo)


def test_permissions_are_minimal() -> None:
    assert WORKFLOW["permissions"] == {"contents": "read"}
    assert WORKFLOW["jobs"]["release"]["permissions"] == {"contents": "read", "packages": "write"}
