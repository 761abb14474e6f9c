"""Site-packages layering benchmark, run inside the build root by bench/images.

For //server:image and //airflow:image against the same binaries in the single-layer gzip layout
they had before (bench/BUILD's *_single_layer images), measured in one run:
- compressed and uncompressed size, against the floor: the .debs' contents plus the wheels' files;
- the bytes a re-push sends after bumping one small pure-Python pin (six) in a scratch copy of the
  workspace (the real lock is never touched);
- the wall-clock time of importing the entrypoint's third-party modules in a podman container
  (overlay storage: one lower directory per layer), the median of five runs after a warm-up.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKSPACE))

from bench.images import deb_floor, image_packages, site_packages_floor  # noqa: E402
from bench.layers import layer_sizes  # noqa: E402
from tests.support.network import CountingProxy  # noqa: E402
from tests.support.registry import registry  # noqa: E402

BUMP = ("six", "1.16.0")
LOCKS = ("third_party/python/server.lock", "third_party/python/airflow.lock")


@dataclass(frozen=True)
class Variant:
    """One image of the comparison: its Bazel package and target, and what its entrypoint imports."""

    image: str
    layout: str
    package: str
    target: str
    layers: str
    imports: str
    runfiles: str

    @property
    def label(self) -> str:
        return f"//{self.package}:{self.target}"


SERVER_IMPORTS = "fastapi, uvicorn, pandas, sklearn, skops.io, mlflow, dvc.api, boto3, prometheus_client"
AIRFLOW_IMPORTS = "airflow.models, airflow.providers.amazon.aws.hooks.s3, pandas, sklearn, skops.io, mlflow, dvc.api"
VARIANTS = [
    Variant(
        "server",
        "single layer, gzip",
        "bench",
        "server_single_layer",
        "server_single_layer_layers",
        SERVER_IMPORTS,
        "entrypoint",
    ),
    Variant("server", "split", "server", "image", "entrypoint_layers", SERVER_IMPORTS, "entrypoint"),
    Variant(
        "airflow",
        "single layer, gzip",
        "bench",
        "airflow_single_layer",
        "airflow_single_layer_layers",
        AIRFLOW_IMPORTS,
        "airflow",
    ),
    Variant("airflow", "split", "airflow", "image", "airflow_layers", AIRFLOW_IMPORTS, "airflow"),
]


def bazel(workspace: Path, *args: str) -> str:
    result = subprocess.run([str(workspace / "tools/bazel"), *args], cwd=workspace, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bench: tools/bazel {' '.join(args)} in {workspace} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def build(workspace: Path) -> Path:
    """Builds every variant with its push and load targets; returns bazel-bin."""
    targets = [f"{v.label}{suffix}" for v in VARIANTS for suffix in ("", "_push", "_load")]
    bazel(workspace, "build", *targets)
    return Path(bazel(workspace, "info", "bazel-bin").strip())


def bump_pin(workspace: Path) -> None:
    """Moves six to another release in both locks of a scratch workspace, with that wheel's hash."""
    name, version = BUMP
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                download,
                f"{name}=={version}",
            ],
            check=True,
        )
        [wheel] = Path(download).glob("*.whl")
        digest = subprocess.run(["sha256sum", str(wheel)], check=True, capture_output=True, text=True).stdout.split()[0]
    stanza = re.compile(rf"^{name}==\S+ \\\n(    --hash=\S+( \\)?\n)+", re.MULTILINE)
    for lock in LOCKS:
        text = (workspace / lock).read_text()
        bumped, count = stanza.subn(f"{name}=={version} \\\\\n    --hash=sha256:{digest}\n", text)
        if count != 1:
            sys.exit(f"bench: {name} is not pinned once in {lock}")
        (workspace / lock).write_text(bumped)


def scratch_copy(destination: Path) -> Path:
    """The checkout's files as they are now, without Bazel's symlinks or git's history."""
    shutil.copytree(
        WORKSPACE,
        destination,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", "bazel-*", ".scratch", "__pycache__"),
    )
    return destination


def import_seconds(bin_dir: Path, variant: Variant) -> float:
    """The median wall clock of importing the variant's modules in a fresh container."""
    tarball = bin_dir / variant.package / f"{variant.target}_load" / "tarball.tar"
    loaded = subprocess.run(
        ["podman", "load", "--quiet", "--input", str(tarball)], check=True, capture_output=True, text=True
    ).stdout
    reference = loaded.strip().rsplit(" ", 1)[-1]
    # Airflow logs warnings on stdout while importing: the measure is the last line.
    code = (
        "import time; start = time.perf_counter(); "
        f"import {variant.imports}; print(f'\\nimport seconds: {{time.perf_counter() - start}}')"
    )
    python_path = f"/app/site-packages:/app/{variant.runfiles}.runfiles/_main"
    run = [
        "podman",
        "run",
        "--rm",
        "--network=none",
        "--env",
        f"PYTHONPATH={python_path}",
        "--entrypoint",
        "/usr/bin/python3.13",
        reference,
        "-c",
        code,
    ]
    subprocess.run(run, check=True, capture_output=True)  # warm-up: page cache, overlay mounts
    times = [
        float(subprocess.run(run, check=True, capture_output=True, text=True).stdout.rsplit(": ", 1)[1])
        for _ in range(5)
    ]
    subprocess.run(["podman", "rmi", "--force", reference], check=True, capture_output=True)
    return statistics.median(times)


def main() -> None:
    print("bench: building the split and single-layer images", file=sys.stderr)
    bin_dir = build(WORKSPACE)
    output_base = Path(bazel(WORKSPACE, "info", "output_base").strip())
    execroot = output_base / "execroot" / "_main"
    rows = {}
    for variant in VARIANTS:
        layout = bin_dir / variant.package / variant.target
        sizes = layer_sizes(layout)
        # Every site-packages layer's manifest lists all the wheels' files: one is enough.
        manifest = min((bin_dir / variant.package).glob(f"{variant.layers}_site_packages*.runfiles.json"))
        floor = deb_floor(output_base, image_packages(layout)) + site_packages_floor(manifest, execroot)
        rows[variant] = {
            "layers": len(sizes),
            "compressed": sum(c for _, c, _ in sizes),
            "uncompressed": sum(u for _, _, u in sizes),
            "floor": floor,
        }
    for variant in VARIANTS:
        print(f"bench: import time of {variant.label}", file=sys.stderr)
        rows[variant]["import"] = import_seconds(bin_dir, variant)

    cache = Path(os.environ["BAZEL_BUILDROOT_CACHE"]) / "output" / "bench-scratch"
    shutil.rmtree(cache, ignore_errors=True)
    scratch = scratch_copy(cache / "workspace")
    with registry(Path(tempfile.mkdtemp(prefix="bench-layering-"))) as running:
        proxy = CountingProxy(int(running.address.split(":")[1]))

        def push(bin_dir: Path, variant: Variant) -> int:
            proxy.sent = 0
            script = bin_dir / variant.package / f"{variant.target}_push.sh"
            subprocess.run(
                [str(script), "--repository", f"127.0.0.1:{proxy.port}/{variant.image}-{variant.target}", "--insecure"],
                check=True,
                capture_output=True,
            )
            return proxy.sent

        for variant in VARIANTS:
            push(bin_dir, variant)
        print(f"bench: bumping {BUMP[0]} to {BUMP[1]} in a scratch copy ({scratch}) and rebuilding", file=sys.stderr)
        try:
            bump_pin(scratch)
            scratch_bin = build(scratch)
            for variant in VARIANTS:
                rows[variant]["repush"] = push(scratch_bin, variant)
        finally:
            subprocess.run([str(scratch / "tools/bazel"), "clean", "--expunge"], cwd=scratch, capture_output=True)
            shutil.rmtree(cache, ignore_errors=True)

    print(f"\nsite-packages layering: {BUMP[0]} bumped to {BUMP[1]}; ratios against the single-layer gzip layout")
    header = (
        f"{'image':<8} {'layout':<19} {'layers':>6} {'compr. MB':>10} {'x':>6} {'uncompr. MB':>12} {'/floor':>7} "
        f"{'bump re-push MB':>16} {'% image':>8} {'x':>6} {'import s':>9} {'x':>6}"
    )
    print(header)
    for variant, row in rows.items():
        baseline = rows[next(v for v in VARIANTS if v.image == variant.image)]
        print(
            f"{variant.image:<8} {variant.layout:<19} {row['layers']:>6} {row['compressed'] / 1e6:>10.1f} "
            f"{row['compressed'] / baseline['compressed']:>6.2f} {row['uncompressed'] / 1e6:>12.1f} "
            f"{row['uncompressed'] / row['floor']:>7.2f} {row['repush'] / 1e6:>16.1f} "
            f"{100 * row['repush'] / row['compressed']:>7.1f}% {row['repush'] / baseline['repush']:>6.2f} "
            f"{row['import']:>9.2f} {row['import'] / baseline['import']:>6.2f}"
        )
    print(
        "targets: airflow compressed <= 200 MB; uncompressed/floor <= 1.15; bump re-push <= 10% of the image; "
        "import no slower than single layer"
    )


if __name__ == "__main__":
    main()
