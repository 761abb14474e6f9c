"""Serving benchmark for //server:image, run inside the build root by bench/serve.

Prints, in one run:
- cold start of the image with no environment (embedded default remote): container start to
  /ready, split into the entrypoint's own phases (its log stamps each line);
- /predict latency (p50, p99; one record, one client) and throughput (a batch of 1, four clients)
  for 1 and 2 uvicorn workers;
- the same measures for a bare ASGI app serving the same pipeline in the same image: the baseline.
The load generator speaks HTTP/1.1 keep-alive on 127.0.0.1, bounded in requests and seconds.
"""

import argparse
import http.client
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKSPACE))

from tests.support.network import free_port, wait_for_http  # noqa: E402
from tests.support.oci_runtime import Container  # noqa: E402

RECORD = {
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181.0,
    "body_mass_g": 3750.0,
    "island": "Torgersen",
    "sex": "male",
}
BODY = json.dumps({"records": [RECORD]}).encode()
PHASE = re.compile(r"\[(\d)/4\].*\(\+([0-9.]+) s\)")


def latencies(port: int, requests: int, seconds: float) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    found, deadline = [], time.monotonic() + seconds
    while len(found) < requests and time.monotonic() < deadline:
        start = time.perf_counter()
        connection.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
        found.append(time.perf_counter() - start)
    connection.close()
    return found


def throughput(port: int, clients: int, seconds: float) -> float:
    counts = [0] * clients

    def client(index: int) -> None:
        counts[index] = len(latencies(port, 10**9, seconds))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def measure(port: int, args: argparse.Namespace) -> dict[str, float]:
    latencies(port, 200, 10)  # warm-up
    sample = sorted(latencies(port, args.requests, args.seconds))
    return {
        "p50": statistics.median(sample) * 1000,
        "p99": sample[int(len(sample) * 0.99) - 1] * 1000,
        "rps": throughput(port, args.clients, args.seconds),
    }


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
    parser.add_argument("--pointers", type=Path, required=True)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
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

    results = {}
    bare_mounts = {
        "/bench": WORKSPACE / "bench",
        "/bench-artifacts": options.artifacts.resolve(),
        "/bench-pointers": options.pointers.resolve(),
    }
    bare_env = {
        "PYTHONPATH": "/bench:/app/entrypoint.runfiles/_main:/app/site-packages",
        "BARE_ARTIFACTS": "/bench-artifacts",
        "BARE_POINTERS": "/bench-pointers",
    }
    for workers in (1, 2):
        print(f"bench: load, {workers} worker(s)", file=sys.stderr)
        container, port, _ = run(options.image, workdir, {"WEB_CONCURRENCY": str(workers)})
        settle(workdir / f"{container.name}.log", workers)
        try:
            results[("server", workers)] = measure(port, options)
        finally:
            container.stop()
        port = free_port()
        bare = [
            "/usr/bin/python3.13",
            "-m",
            "uvicorn",
            "bare_app:app",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        container = Container(options.image, workdir, args=bare, env=bare_env, read_only=True, mounts=bare_mounts)
        container.start(workdir / f"bare-{workers}.log")
        try:
            try:
                wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=180, alive=container.alive)
            except AssertionError:
                sys.exit(
                    f"bench: the bare baseline did not start:\n{(workdir / f'bare-{workers}.log').read_text()[-2000:]}"
                )
            results[("bare", workers)] = measure(port, options)
        finally:
            container.stop()

    median = {key: statistics.median(start[key] for start in starts) for key in starts[0]}
    print(f"\ncold start, no environment (median of {options.starts}):")
    print(f"  container start -> /ready  {median['total']:6.2f} s   (target: <= 2 s plus the transfer)")
    print(f"    Python start + imports     {median['python']:5.2f} s")
    print(f"    DVC configure              {median['configure']:5.2f} s")
    print(f"    dvc pull + md5 check       {median['pull']:5.2f} s (the transfer)")
    print(f"    MLflow vars + port check   {median['mlflow']:5.2f} s")
    print(f"    exec, uvicorn import, load {median['after_exec']:5.2f} s (and runc's set-up)")
    print(f"\n{'/predict, 1 record':<24} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'vs bare':>8}")
    for workers in (1, 2):
        for kind in ("bare", "server"):
            row = results[(kind, workers)]
            ratio = row["rps"] / results[("bare", workers)]["rps"]
            print(
                f"{kind + f', {workers} worker(s)':<24} {row['p50']:8.2f} {row['p99']:8.2f} {row['rps']:8.0f} {ratio:7.2f}x"
            )
    print("\ntargets: p99 <= 5 ms for one record; server throughput >= 0.8x the bare baseline")


if __name__ == "__main__":
    main()
