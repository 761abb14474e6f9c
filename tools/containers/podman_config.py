"""The build root's podman settings, written in one place for tools/podman, tools/compose and the
tests' own stores: runc and cgroupfs (the root has no systemd), file events, ulimits a user
namespace may set, and short names resolved locally (docker-compose names images by short name,
and podman's Docker API would otherwise read them as docker.io/library/...).

    podman_config.py --dir DIR --graphroot G --runroot R [--host-network] [--no-cgroups]

writes DIR/containers.conf and DIR/storage.conf and prints the environment that selects them
(NAME=VALUE lines: CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, TMPDIR).
"""

import argparse
from pathlib import Path

# conmon limits a socket path to 108 bytes: keep the run root short (e.g. under /run).
ULIMITS = '["nofile=1024:1024", "nproc=4096:4096"]'


def write_config(
    directory: Path, graphroot: Path, runroot: Path, host_network: bool = False, cgroups: bool = True
) -> dict[str, str]:
    """Writes the two files below `directory`; returns the variables that point podman at them.

    `cgroups=False` is for a normal user's build root: root only of its own user namespace, it
    cannot write the host's cgroupfs, so containers run without a cgroup of their own. podman
    allows that only with crun, and crun refuses a hybrid cgroup host, so the caller also hides
    /sys/fs/cgroup behind an empty tmpfs (buildroot::podman_config).
    """
    for sub in ("tmp", "networks"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    network = 'netns = "host"\n' if host_network else ""
    no_cgroups = "" if cgroups else 'cgroups = "disabled"\n'
    runtime = "runc" if cgroups else "crun"
    (directory / "containers.conf").write_text(
        f"[containers]\ndefault_ulimits = {ULIMITS}\n{network}{no_cgroups}"
        f'[engine]\nruntime = "{runtime}"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        "compat_api_enforce_docker_hub = false\n"
        f'events_logfile_path = "{directory}/events.log"\ntmp_dir = "{directory}/tmp"\n'
        f'image_copy_tmp_dir = "{directory}/tmp"\n'
        f'[network]\nnetwork_config_dir = "{directory}/networks"\n'
    )
    (directory / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{graphroot}"\nrunroot = "{runroot}"\n'
    )
    return settings_env(directory)


def settings_env(directory: Path) -> dict[str, str]:
    """The variables that point podman at the settings write_config wrote below `directory`."""
    return {
        "CONTAINERS_CONF": str(directory / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(directory / "storage.conf"),
        "TMPDIR": str(directory / "tmp"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the settings and podman's temporary files go")
    parser.add_argument("--graphroot", type=Path, required=True, help="image and container storage")
    parser.add_argument("--runroot", type=Path, required=True, help="run state (short: socket paths live here)")
    parser.add_argument("--host-network", action="store_true", help="containers share the host's network by default")
    parser.add_argument("--no-cgroups", action="store_true", help="run containers without cgroups (a normal user)")
    args = parser.parse_args()
    settings = write_config(args.dir, args.graphroot, args.runroot, args.host_network, cgroups=not args.no_cgroups)
    for name, value in settings.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
