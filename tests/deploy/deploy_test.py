"""The deploy manifests: rendered with //server:image's digest, valid against Kubernetes' own
schemas, and the Deployment run for real by the build root's podman (`podman kube play`)."""

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy.render import MANIFESTS, containers, render
from tests.support.network import free_port, wait_for_http
from tools.containers.compose_session import private_mounts
from tools.containers.podman_config import write_config

LAYOUT = Path(os.environ["SERVER_IMAGE"])
DIGEST = Path(os.environ["SERVER_DIGEST"]).read_text().strip()
KUBERNETES = "1.34"
REPOSITORY = "registry.example.com/ml/prediction-server"
LOCAL = "localhost/prediction-server"  # the name the test's podman store knows the image by
# What a Knative revision adds to a Kubernetes PodSpec (Cloud Run's Service template).
KNATIVE_ONLY = ("containerConcurrency", "timeoutSeconds")


def test_every_container_names_the_built_image_by_digest() -> None:
    assert DIGEST.startswith("sha256:") and len(DIGEST) == 71
    for target in MANIFESTS:
        images = [c["image"] for doc in render(target, REPOSITORY, DIGEST) for c in containers(doc)]
        assert images == [f"{REPOSITORY}@{DIGEST}"], target


def test_the_manifests_command_prints_them() -> None:
    """As `tools/bazel run //deploy:manifests` runs it (BUILD.bazel's args name the digest file)."""
    digest_file = f"--digest-file={os.environ['SERVER_DIGEST']}"
    result = subprocess.run(
        [os.environ["MANIFESTS"], digest_file, "kubernetes", "--repository", REPOSITORY], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout)]
    assert kinds == ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    assert "latest" not in result.stdout
    refused = subprocess.run(
        [os.environ["MANIFESTS"], digest_file, "cloudrun", "--repository", f"{REPOSITORY}:v1"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("must be REGISTRY/NAME, without a tag or digest")


@pytest.mark.parametrize("document", render("kubernetes", REPOSITORY, DIGEST), ids=lambda doc: doc["kind"])
def test_kubernetes_objects_match_the_schemas(document: dict) -> None:
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_cloud_run_template_is_a_valid_pod() -> None:
    """kubernetes-validate knows no Knative schema: the revision template, less the two fields
    Knative adds, must be a valid (strict) Kubernetes Pod."""
    (service,) = render("cloudrun", REPOSITORY, DIGEST)
    assert service["apiVersion"] == "serving.knative.dev/v1" and service["kind"] == "Service"
    template = service["spec"]["template"]
    spec = {key: value for key, value in template["spec"].items() if key not in KNATIVE_ONLY}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "revision", **template["metadata"]}, "spec": spec}
    kubernetes_validate.validate(pod, KUBERNETES, strict=True)
    (container,) = spec["containers"]
    assert container["startupProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {var["name"] for var in container["env"] if "valueFrom" in var} >= {"AWS_SECRET_ACCESS_KEY"}


def test_the_deployment_hardens_the_pod() -> None:
    deployment = render("kubernetes", REPOSITORY, DIGEST)[0]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 65532
    assert container["securityContext"]["readOnlyRootFilesystem"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"startupProbe", "readinessProbe", "livenessProbe", "resources"} <= set(container)
    assert [mount["mountPath"] for mount in container["volumeMounts"]] == ["/tmp"]


def writable_var_tmp() -> None:
    """podman builds its pause image under /var/tmp whatever TMPDIR says, and the build root's is
    read-only: a tmpfs there, with whatever lies below /var/tmp now (a build-root cache under
    /var/tmp/..., so this test's own files) bound back in place."""
    below = Path("/run/var-tmp-below")
    below.mkdir()
    subprocess.run(["mount", "--rbind", "/var/tmp", str(below)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", "/var/tmp"], check=True)
    for entry in below.iterdir():
        target = Path("/var/tmp") / entry.name
        target.mkdir() if entry.is_dir() else target.touch()
        subprocess.run(["mount", "--rbind", str(entry), str(target)], check=True)


@pytest.fixture(scope="module")
def podman_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A podman store of the test's own, holding //server:image as built: copied by skopeo from
    the OCI layout, so it keeps its manifest and so its digest."""
    private_mounts()
    writable_var_tmp()
    store = Path(os.environ["TEST_TMPDIR"]) / "podman"
    env = {**os.environ, **write_config(store, graphroot=store / "graph", runroot=Path("/run/containers/storage"))}
    copied = subprocess.run(
        [
            "skopeo",
            "--tmpdir",
            str(store / "tmp"),
            "copy",
            "--quiet",
            f"oci:{LAYOUT}",
            f"containers-storage:{LOCAL}:built",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert copied.returncode == 0, copied.stderr
    yield env


def podman(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=300)


def test_podman_kube_play_runs_the_deployment(podman_store: dict[str, str], tmp_path: Path) -> None:
    deployment = render("kubernetes", LOCAL, DIGEST)[0]
    # One replica, on a free port of the host's loopback network (the test's own addresses).
    port = free_port()
    deployment["spec"]["replicas"] = 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["env"] = [{"name": "PORT", "value": str(port)}, {"name": "HOST", "value": "127.0.0.1"}] + [
        var for var in container["env"] if var["name"] not in ("PORT", "HOST")
    ]
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(yaml.safe_dump(deployment))

    played = podman(podman_store, "kube", "play", "--network", "host", str(manifest))
    assert played.returncode == 0, played.stderr
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=180)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=json.dumps({"records": [{"island": "Biscoe", "bill_length_mm": 46.1}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
            assert json.load(answer)["predictions"][0]["species"] in ("Adelie", "Chinstrap", "Gentoo")
        running = podman(podman_store, "ps", "--format", "{{.Names}}").stdout.split()
        (name,) = [each for each in running if each.endswith("-" + container["name"])]
        inspected = json.loads(podman(podman_store, "inspect", name).stdout)[0]
        assert inspected["HostConfig"]["ReadonlyRootfs"] is True
        assert inspected["Config"]["User"] in ("65532", "65532:65532")
        assert inspected["ImageDigest"] == DIGEST
        # The read-only root refuses a write; /tmp (the emptyDir) takes one.
        probe = "import sys\ntry:\n open('/probe', 'w')\nexcept OSError as e:\n print(e.errno)\nopen('/tmp/probe', 'w')"
        wrote = podman(podman_store, "exec", name, "/usr/bin/python3.13", "-c", probe)
        assert wrote.returncode == 0 and wrote.stdout.strip() == "30", wrote.stdout + wrote.stderr  # EROFS
    finally:
        logs = podman(podman_store, "pod", "logs", "--tail", "20", deployment["metadata"]["name"] + "-pod")
        print(logs.stdout, logs.stderr, file=sys.stderr)
        podman(podman_store, "kube", "down", str(manifest))
