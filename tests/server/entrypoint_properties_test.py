"""The entrypoint never ends in a traceback: whatever the environment and the state of the remote,
it either gets everything in place or stops with one line and an exit code from the README's
table. Hypothesis generates the environments and picks the remote's state; `--check` runs every
step but the exec, so a run that succeeds exits 0 instead of serving."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entrypoint.failures import Exit, Failure
from entrypoint.settings import from_environment
from server.model import pointers
from tests.support.network import free_port, wait_for
from tests.support.s3 import S3, dvc_push, moto_s3

ENTRYPOINT = Path(os.environ["ENTRYPOINT"])
TRAINED = Path(os.environ["TRAINED_MODEL"]).parent
DOCUMENTED = {int(code) for code in Exit}

# Values a person might type, or mistype, for any variable: empty, blank, numbers in and out of
# range, words, URLs of every kind, paths, and whatever else Hypothesis makes of text.
TYPED = st.one_of(
    st.just(""),
    st.just(" "),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["0", "1", "1000", "1e3", "1_000", "٣", "many", "info", "DEBUG", "/tmp/x", "relative/path"]),
    st.sampled_from(["s3://models/penguins", "s3://", "s3://Bad_Bucket!/x", "s3://[::1", "http://[bad", "ftp://x"]),
    st.sampled_from(["http://127.0.0.1:1", "http://host:99999", "https://user:pw@host/", "http:///nohost"]),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40),
)
VARIABLES = [
    "DVC_REMOTE_URL",
    "DVC_REMOTE_ENDPOINT_URL",
    "DVC_POINTERS_URL",
    "DVC_POINTERS_DIR",
    "DVC_PULL_TIMEOUT",
    "DVC_PULL_RETRIES",
    "MODEL_WORKDIR",
    "HOST",
    "PORT",
    "WEB_CONCURRENCY",
    "LOG_LEVEL",
    "MAX_BATCH_SIZE",
    "MODEL_POLL_SECONDS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
]
ENVIRONMENTS = st.dictionaries(st.sampled_from(VARIABLES), TYPED, max_size=len(VARIABLES))


@given(ENVIRONMENTS)
@settings(max_examples=400, deadline=None)
def test_settings_are_valid_or_one_documented_line(env: dict[str, str]) -> None:
    try:
        from_environment(env)
    except Failure as failure:
        assert failure.code in DOCUMENTED
        assert "\n" not in str(failure)


def test_max_batch_size_zero_is_refused() -> None:
    with pytest.raises(Failure) as raised:
        from_environment({"MAX_BATCH_SIZE": "0"})
    assert raised.value.code == Exit.BAD_SETTING
    assert "MAX_BATCH_SIZE=0 is out of range" in str(raised.value)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("s3")
    with moto_s3(workdir) as running:
        project = dvc_push(running, TRAINED, "penguins", workdir)
        running.client().put_object(Bucket=running.bucket, Key="empty/.keep", Body=b"")
        yield running, project


@pytest.fixture(scope="module")
def bad_pointers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pointer files that are not YAML, not a pointer, or record no md5."""
    directory = tmp_path_factory.mktemp("bad-pointers")
    (directory / f"{pointers.TRANSFORMER}.dvc").write_text("outs: [\n")
    (directory / f"{pointers.MODEL}.dvc").write_text("just text\n")
    (directory / f"{pointers.METADATA}.dvc").write_text("outs:\n- md5: nothex\n")
    return directory


def run_entrypoint(env: dict[str, str], workdir: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ["PATH"],
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "MODEL_WORKDIR": str(workdir),
        "DVC_PULL_RETRIES": "1",
        "DVC_PULL_TIMEOUT": "60",
        **env,
    }
    return subprocess.run(
        [str(ENTRYPOINT), "--check", *args], env=environment, capture_output=True, text=True, timeout=300
    )


# The remote's states a start can meet, and how the environment points at them.
REMOTES = st.sampled_from(["artifacts", "empty prefix", "no such bucket", "dead endpoint", "bad pointers"])
CREDENTIALS = st.sampled_from(["right", "wrong secret", "no secret", "none"])


@given(remote=REMOTES, credentials=CREDENTIALS, overrides=ENVIRONMENTS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_start_succeeds_or_stops_with_one_documented_line(
    s3: tuple[S3, Path],
    bad_pointers: Path,
    tmp_path_factory: pytest.TempPathFactory,
    remote: str,
    credentials: str,
    overrides: dict[str, str],
) -> None:
    running, _ = s3
    env = running.env(DVC_REMOTE_URL=f"s3://{running.bucket}/penguins")
    if remote == "empty prefix":
        env["DVC_REMOTE_URL"] = f"s3://{running.bucket}/empty"
    elif remote == "no such bucket":
        env["DVC_REMOTE_URL"] = "s3://no-such-bucket/penguins"
    elif remote == "dead endpoint":
        env["DVC_REMOTE_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    elif remote == "bad pointers":
        env["DVC_POINTERS_DIR"] = str(bad_pointers)
    if credentials == "wrong secret":
        env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    elif credentials == "no secret":
        del env["AWS_SECRET_ACCESS_KEY"]
    elif credentials == "none":
        del env["AWS_SECRET_ACCESS_KEY"], env["AWS_ACCESS_KEY_ID"]
    # The generated values override some of the variables, so most starts meet a mistake.
    env.update({name: value for name, value in overrides.items() if name not in ("PORT", "HOST")})
    result = run_entrypoint(env, tmp_path_factory.mktemp("work"))

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0 or result.returncode in DOCUMENTED, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("entrypoint: error:")]
    if result.returncode == 0:
        assert not errors, result.stderr
    else:
        assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr


def test_a_model_that_verifies_but_does_not_load_stops_before_the_server(tmp_path: Path) -> None:
    """Artifacts whose md5s match their pointers, in a local remote, with a model that is not one."""
    remote, pointer_dir = tmp_path / "remote", tmp_path / "pointers"
    pointer_dir.mkdir()
    for name in pointers.ARTIFACTS:
        source = TRAINED / name
        content = b"PK\x05\x06 not a skops archive" if name == pointers.MODEL else source.read_bytes()
        staged = tmp_path / name
        staged.write_bytes(content)
        digest = pointers.md5(staged)
        stored = remote / "files" / "md5" / digest[:2] / digest[2:]
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(content)
        (pointer_dir / f"{name}.dvc").write_text(pointers.pointer(staged))
    result = run_entrypoint({"DVC_REMOTE_URL": str(remote), "DVC_POINTERS_DIR": str(pointer_dir)}, tmp_path / "work")
    assert result.returncode == Exit.MODEL_UNUSABLE, result.stderr
    assert (
        result.stderr.rstrip()
        .splitlines()[-1]
        .startswith("entrypoint: error: the artifacts verify but are not a model this server can use")
    )
    assert "exec uvicorn" not in result.stderr


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def has_ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_sigterm_during_the_pull_stops_it_and_its_child(s3: tuple[S3, Path], tmp_path: Path) -> None:
    """A remote that answers every request but never sends an object's bytes: the pull hangs
    until SIGTERM, which ends the entrypoint and the dvc process it started."""
    running, _ = s3
    stall_gets = StallingGets(int(running.endpoint.rsplit(":", 1)[1]))
    environment = {
        "PATH": os.environ["PATH"],
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "MODEL_WORKDIR": str(tmp_path / "work"),
        **running.env(DVC_REMOTE_URL=f"s3://{running.bucket}/penguins", DVC_REMOTE_ENDPOINT_URL=stall_gets.url),
    }
    log = tmp_path / "entrypoint.log"
    with open(log, "w") as sink:
        process = subprocess.Popen([str(ENTRYPOINT), "--check"], env=environment, stderr=sink, stdout=sink)
    try:
        deadline = time.monotonic() + 120
        while not (children(process.pid) and "dvc pull" in log.read_text()):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        (dvc_child,) = children(process.pid)
        assert b"dvc" in Path(f"/proc/{dvc_child}/cmdline").read_bytes()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == Exit.TERMINATED, log.read_text()
    finally:
        process.kill()
        stall_gets.close()
    # Killed, it may stay a zombie for a moment until the sandbox's init reaps it: dead all the same.
    wait_for(lambda: has_ended(dvc_child), timeout=10)  # else: dvc outlived the entrypoint
    last = log.read_text().rstrip().splitlines()[-1]
    assert last == "entrypoint: error: SIGTERM during start-up; stopped before the server started"


class StallingGets:
    """An HTTP proxy in front of the S3 server on `port` that forwards every request but the
    GETs of DVC's objects (below files/md5/), which it holds until closed."""

    def __init__(self, port: int) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        released = threading.Event()
        self._released = released

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                if self.command == "GET" and "/files/md5/" in self.path:
                    released.wait(600)
                    self.close_connection = True
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request(self.command, self.path, body=body, headers=dict(self.headers))
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                # A HEAD's length is the object's, from upstream; otherwise the body's.
                length = answer.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_HEAD = do_PUT = do_POST = _forward

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
