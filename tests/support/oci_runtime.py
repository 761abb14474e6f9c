"""Runs an OCI image layout with no daemon: `umoci raw unpack` into a rootfs, then `runc run`.

Two modes, picked from what the test process may do:
- real root (a `no-sandbox` test in the build root): ownership is kept and the container's user
  namespace maps uids 0-65536 one to one, so the image's own user (65532) really runs;
- a single mapped uid (Bazel's linux-sandbox): `umoci --rootless`, and the process runs as uid 0
  of its namespace. Tests that assert the uid need the first mode.
Either way runc runs rootless (the build root's cgroupfs is read-only) and the container shares the
test's network namespace, so it reaches servers the test started on 127.0.0.1 and vice versa.

An image is unpacked once per test process and mode. Read-only containers all run on that one
rootfs; a writable one gets a copy of its own (`cp -a`: 12 s for the Airflow image). Unpacking
was most of the image tests' time: the Airflow image takes 23 s with `umoci raw unpack` and 44 s
with `umoci unpack`, which also hashes every file into an mtree manifest no test reads.
"""

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tools.oci.layout import LAYER_ZSTD, image_manifests

_GZIPPED: dict[Path, Path] = {}
_UNPACKED: dict[tuple[Path, bool], Path] = {}


def umoci_readable(image: Path) -> Path:
    """The image, or a gzip copy of it when it has zstd layers: Debian's umoci (0.4.7) unpacks
    only plain and gzip ones. skopeo recompresses it, once per test process."""
    if not any(
        layer["mediaType"] == LAYER_ZSTD for _, manifest in image_manifests(image) for layer in manifest["layers"]
    ):
        return image
    if image not in _GZIPPED:
        copy = Path(tempfile.mkdtemp(prefix="gzip-layers-", dir=os.environ.get("TEST_TMPDIR"))) / "image"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-compress-format",
                "gzip",
                # The copy is read once, by umoci: the fastest level does.
                "--dest-compress-level",
                "1",
                f"oci:{image}:latest",
                f"oci:{copy}:latest",
            ],
            check=True,
            capture_output=True,
        )
        _GZIPPED[image] = copy
    return _GZIPPED[image]


def unpacked(image: Path, full_uids: bool) -> Path:
    """A folder with the image's rootfs/ and its runtime config (config.json), made once per test
    process and mode: owners kept (full_uids), or every file the test's own (--rootless)."""
    key = (image, full_uids)
    if key not in _UNPACKED:
        template = Path(tempfile.mkdtemp(prefix="unpacked-", dir=os.environ.get("TEST_TMPDIR")))
        reference = f"{umoci_readable(image)}:latest"
        umoci = ["umoci", "raw"]
        options = ["--image", reference] if full_uids else ["--rootless", "--image", reference]
        rootfs = template / "rootfs"
        subprocess.run([*umoci, "unpack", *options, str(rootfs)], check=True, capture_output=True)
        config = [*umoci, "runtime-config", *options, "--rootfs", str(rootfs), str(template / "config.json")]
        subprocess.run(config, check=True, capture_output=True)
        _UNPACKED[key] = template
    return _UNPACKED[key]


def can_map_all_uids() -> bool:
    try:
        text = Path("/proc/self/uid_map").read_text().split()
        return int(text[2]) > 65532
    except (OSError, IndexError, ValueError):
        return False


@dataclass
class Container:
    """A runc bundle on the image's unpacked rootfs; run() it once, or start() it and stop() it."""

    image: Path
    workdir: Path
    args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    read_only: bool = False
    mounts: dict[str, Path] = field(default_factory=dict)  # container path -> host path, read-only
    volumes: dict[str, Path] = field(default_factory=dict)  # container path -> host path, writable
    name: str = field(default_factory=lambda: "t" + uuid.uuid4().hex[:12])
    process: subprocess.Popen | None = None
    rootfs: Path = field(init=False)  # shared by read-only containers of the image, else a copy

    def __post_init__(self) -> None:
        self.bundle = self.workdir / f"bundle-{self.name}"
        self.state = self.workdir / "runc-state"
        self.full_uids = can_map_all_uids()
        template = unpacked(self.image, self.full_uids)
        self.bundle.mkdir()
        if self.read_only:
            self.rootfs = template / "rootfs"
        else:
            self.rootfs = self.bundle / "rootfs"
            subprocess.run(["cp", "-a", str(template / "rootfs"), str(self.rootfs)], check=True)
        shutil.copy(template / "config.json", self.bundle / "config.json")
        self._configure()

    def _configure(self) -> None:
        path = self.bundle / "config.json"
        config = json.loads(path.read_text())
        process = config["process"]
        process["terminal"] = False
        if self.args is not None:
            process["args"] = self.args
        process["env"] = [entry for entry in process["env"] if entry.split("=")[0] not in self.env]
        process["env"] += [f"{key}={value}" for key, value in self.env.items()]
        linux = config["linux"]
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
        linux["namespaces"].append({"type": "user"})
        if self.full_uids:
            mapping = [{"containerID": 0, "hostID": 0, "size": 65537}]
        else:
            mapping = [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
            process["user"] = {"uid": 0, "gid": 0}
        linux["uidMappings"] = mapping
        linux["gidMappings"] = mapping
        linux.pop("resources", None)
        config["root"] = {"path": str(self.rootfs), "readonly": self.read_only}
        # Sharing the host's network namespace means sysfs cannot be mounted afresh: bind it.
        config["mounts"] = [m for m in config["mounts"] if m["destination"] not in ("/tmp", "/sys")]
        config["mounts"].append(
            {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        )
        config["mounts"].append(
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
        )
        for mounts, mode in ((self.mounts, "ro"), (self.volumes, "rw")):
            for destination, source in mounts.items():
                config["mounts"].append(
                    {
                        "destination": destination,
                        "type": "none",
                        "source": str(source),
                        "options": ["rbind", mode, "nosuid", "nodev"],
                    }
                )
        path.write_text(json.dumps(config))

    def _command(self) -> list[str]:
        return ["runc", "--rootless", "true", "--root", str(self.state), "run", "--bundle", str(self.bundle), self.name]

    def run(self, timeout: float = 120) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(self._command(), capture_output=True, text=True, timeout=timeout)
        finally:
            subprocess.run(["runc", "--root", str(self.state), "delete", "--force", self.name], capture_output=True)

    def start(self, log: Path) -> None:
        self.log = open(log, "w")  # noqa: SIM115 (open while the container runs; stop() closes it)
        self.process = subprocess.Popen(self._command(), stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM, as a container engine would; returns the exit code."""
        assert self.process is not None
        subprocess.run(["runc", "--root", str(self.state), "kill", self.name, "TERM"], capture_output=True)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            subprocess.run(["runc", "--root", str(self.state), "kill", self.name, "KILL"], capture_output=True)
            code = self.process.wait(timeout=30)
        subprocess.run(["runc", "--root", str(self.state), "delete", "--force", self.name], capture_output=True)
        self.log.close()
        return code
