"""The hello image, run with no daemon (umoci + runc), as its own nonroot user."""

import json
import os
import urllib.request
from pathlib import Path

from tests.support.network import free_port, wait_for_http
from tests.support.oci_runtime import Container, can_map_all_uids

HELLO = Path(os.environ["HELLO"])


def test_the_image_runs_as_65532_with_tls_and_the_stdlib(tmp_path: Path) -> None:
    assert can_map_all_uids(), "this test must run outside the sandbox (tags = no-sandbox)"
    container = Container(HELLO, tmp_path, args=["/usr/bin/python3.13", "/app/hello", "--check"])
    result = container.run()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["uid"] == 65532
    assert report["python"].startswith("3.13.")
    assert report["ca_certificates"] > 100
    assert report["prometheus_client"].startswith("/app/site-packages/")


def test_the_service_answers_with_a_read_only_root(tmp_path: Path) -> None:
    port = free_port()
    container = Container(HELLO, tmp_path, env={"PORT": str(port)}, read_only=True)
    container.start(tmp_path / "hello.log")
    try:
        body = wait_for_http(f"http://127.0.0.1:{port}/", alive=container.alive)
        assert body == b"hello from a distroless image\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as answer:
            assert b"hello_greetings_total 1.0" in answer.read()
    finally:
        container.stop()
