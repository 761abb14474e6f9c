"""Serving benchmark for //server:image, run inside the build root by bench/serve.

Prints, in one run:
- cold start of the image with no environment (embedded default remote): container start to
  /ready, split into the entrypoint's own phases (its log stamps each line);
- with wrk (a real load generator, on 127.0.0.1, bounded in seconds) at 1, 8 and 64 connections:
  /health and one-record /predict on the same server (the ratio is the model's cost against
  HTTP's), a 1000-record /predict, and the peer: MLflow's own scoring server serving the same
  fitted model (bench/mlflow_peer.py), one worker each;
- the resident memory of each uvicorn worker, with 1 and with 2 workers.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKSPACE))

from server.model.sample import SAMPLE  # noqa: E402
from tests.support.network import free_port, wait_for_http  # noqa: E402
from tests.support.oci_runtime import Container  # noqa: E402

PHASE = re.compile(r"\[(\d)/4\].*\(\+([0-9.]+) s\)")
CONNECTIONS = (1, 8, 64)
# wrk's Lua: POST the file BODY_FILE names, as JSON.
POST_SCRIPT = """
local file = io.open(os.getenv("BODY_FILE"), "rb")
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, connections: int, seconds: float, workdir: Path, body: dict | None = None) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) from wrk --latency; any non-2xx answer fails the bench."""
    command = [
        "wrk",
        f"-t{min(connections, 2)}",
        f"-c{connections}",
        f"-d{seconds:.0f}s",
        "--timeout",
        "30s",
        "--latency",
        url,
    ]
    env = dict(os.environ)
    if body is not None:
        (workdir / "body.json").write_text(json.dumps(body))
        (workdir / "post.lua").write_text(POST_SCRIPT)
        command[1:1] = ["-s", str(workdir / "post.lua")]
        env["BODY_FILE"] = str(workdir / "body.json")
    output = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 60, check=True).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        sys.exit(f"bench: wrk saw failed requests against {url}:\n{output}")
    percentiles = {
        int(p): float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(\d+)%\s+([0-9.]+)(us|ms|s)\s*$", output, re.M)
    }
    return {
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1)),
        "p50": percentiles[50],
        "p99": percentiles[99],
    }


def resident_mib(container: Container) -> list[float]:
    """VmRSS of each uvicorn worker (with one worker, the server process itself), in MiB."""
    state = subprocess.run(
        ["runc", "--root", str(container.state), "state", container.name], capture_output=True, text=True, check=True
    )
    init = json.loads(state.stdout)["pid"]
    children = [
        int(c) for task in Path(f"/proc/{init}/task").iterdir() for c in (task / "children").read_text().split()
    ]
    # uvicorn --workers N spawns N Python processes under its supervisor; with 1, it serves itself.
    # (multiprocessing's resource tracker is a child too, but no worker).
    workers = [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()] or [init]
    return [
        int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024 for pid in workers
    ]


def run(
    image: Path,
    workdir: Path,
    env: dict[str, str],
    args: list[str] | None = None,
    mounts: dict[str, Path] | None = None,
) -> tuple[Container, int, float]:
    port = free_port()
    container = Container(
        image, workdir, args=args, env={**env, "PORT": str(port)}, read_only=True, mounts=mounts or {}
    )
    start = time.monotonic()
    container.start(workdir / f"{container.name}.log")
    wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=180, alive=container.alive)
    return container, port, time.monotonic() - start


def settle(log: Path, workers: int, timeout: float = 60) -> None:
    """Steady state: each worker has finished its background MLflow report (an import of mlflow
    that would otherwise compete with the first requests for the CPU)."""
    deadline = time.monotonic() + timeout
    while log.read_text().count('"event": "mlflow_') < workers and time.monotonic() < deadline:
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--artifacts", type=Path, required=True, help="the trained default artifacts")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--mlflow-peer", type=Path, required=True, help="bazel-bin/bench/mlflow_peer")
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk row")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))

    starts = []
    for attempt in range(options.starts):
        print(f"bench: cold start {attempt + 1}/{options.starts}", file=sys.stderr)
        container, _, ready = run(options.image, workdir, {})
        container.stop()
        phases = {int(n): float(t) for n, t in PHASE.findall((workdir / f"{container.name}.log").read_text())}
        starts.append(
            {
                "total": ready,
                "python": phases[1],
                "configure": phases[2] - phases[1],
                "pull": phases[3] - phases[2],
                "mlflow": phases[4] - phases[3],
                "after_exec": ready - phases[4],
            }
        )

    results: dict[tuple[str, int], dict[str, float]] = {}
    memory: dict[int, list[float]] = {}
    for workers in (1, 2):
        print(f"bench: memory, {workers} worker(s)", file=sys.stderr)
        container, port, _ = run(options.image, workdir, {"WEB_CONCURRENCY": str(workers)})
        try:
            settle(workdir / f"{container.name}.log", 1)
            if workers == 1:
                # A first run warms the server (and lets its background MLflow report finish).
                wrk(f"http://127.0.0.1:{port}/predict", 8, 3, workdir, {"records": [SAMPLE]})
                for connections in CONNECTIONS:
                    print(f"bench: wrk, {connections} connection(s)", file=sys.stderr)
                    base = f"http://127.0.0.1:{port}"
                    results[("health", connections)] = wrk(f"{base}/health", connections, options.seconds, workdir)
                    one = {"records": [SAMPLE]}
                    results[("predict", connections)] = wrk(
                        f"{base}/predict", connections, options.seconds, workdir, one
                    )
                    batch = {"records": [SAMPLE] * 1000}
                    results[("batch", connections)] = wrk(
                        f"{base}/predict", connections, options.seconds, workdir, batch
                    )
            memory[workers] = resident_mib(container)
        finally:
            container.stop()

    print("bench: the MLflow peer", file=sys.stderr)
    port = free_port()
    with open(workdir / "peer.log", "w") as log:
        peer = subprocess.Popen(
            [
                str(options.mlflow_peer),
                "--artifacts",
                str(options.artifacts),
                "--workdir",
                str(workdir),
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", timeout=300, alive=lambda: peer.poll() is None)
        for connections in CONNECTIONS:
            body = {"dataframe_records": [SAMPLE]}
            results[("peer", connections)] = wrk(
                f"http://127.0.0.1:{port}/invocations", connections, options.seconds, workdir, body
            )
    finally:
        peer.terminate()
        peer.wait(timeout=30)

    median = {key: statistics.median(start[key] for start in starts) for key in starts[0]}
    print(f"\ncold start, no environment (median of {options.starts}):")
    print(f"  container start -> /ready  {median['total']:6.2f} s   (target: <= 2 s plus the transfer)")
    print(f"    Python start + imports     {median['python']:5.2f} s")
    print(f"    DVC configure              {median['configure']:5.2f} s")
    print(f"    dvc pull, md5, model check {median['pull']:5.2f} s (the transfer, then a scored sample)")
    print(f"    MLflow vars + port check   {median['mlflow']:5.2f} s")
    print(f"    exec, uvicorn import, load {median['after_exec']:5.2f} s (and runc's set-up)")
    print(
        f"\nwrk, {options.seconds:.0f} s a row, one uvicorn worker each; ratios against /health (and the peer) at the same connections"
    )
    print(f"{'endpoint':<34} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs health':>9} {'vs peer':>8}")
    labels = {
        "health": "/health",
        "predict": "/predict, 1 record",
        "batch": "/predict, 1000 records",
        "peer": "MLflow scoring server, 1 record",
    }
    for kind, label in labels.items():
        for connections in CONNECTIONS:
            row = results[(kind, connections)]
            health = row["rps"] / results[("health", connections)]["rps"]
            peer_ratio = row["rps"] / results[("peer", connections)]["rps"] if kind == "predict" else None
            print(
                f"{label:<34} {connections:>5} {row['rps']:9.0f} {row['p50']:8.2f} {row['p99']:8.2f} {health:8.2f}x"
                + (f" {peer_ratio:7.2f}x" if peer_ratio else "")
            )
    for workers, sizes in memory.items():
        print(
            f"resident memory, {workers} worker(s): " + ", ".join(f"{size:.0f} MiB" for size in sizes) + " per worker"
        )
    print("\ntargets: one-record /predict >= 0.5x /health; >= 3x the MLflow peer at no worse p99")


if __name__ == "__main__":
    main()
