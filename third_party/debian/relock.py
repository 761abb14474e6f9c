"""Re-resolves third_party/debian/packages.toml into trixie.lock.json.

Run with: tools/bazel run //third_party/debian:relock

apt itself resolves each group's dependency closure, with a private state directory (the build root
stays read-only) and a made-up dpkg status that marks the excluded packages, and every earlier
group, as installed: apt then leaves them and their own dependencies out. The lock records name,
version, architecture, sha256 and the path below the mirror; never the mirror itself.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.parse
from pathlib import Path

HERE = Path(os.environ.get("BUILD_WORKSPACE_DIRECTORY", Path(__file__).resolve().parents[2])) / "third_party/debian"
URI_LINE = re.compile(r"^'(?P<url>[^']+)' (?P<file>\S+) (?P<size>\d+)( \S+)? *$")


def mirror() -> str:
    """The Debian mirror, which tools/bazel passes into the build root."""
    value = os.environ.get("BAZEL_BUILDROOT_MIRROR", "").rstrip("/")
    if not value:
        sys.exit("relock: BAZEL_BUILDROOT_MIRROR is not set; run me with tools/bazel run //third_party/debian:relock")
    return value


def apt(state: Path, *args: str, tool: str = "apt-get") -> str:
    options = [
        f"-oDir::State={state}/state",
        f"-oDir::State::status={state}/status",
        f"-oDir::Cache={state}/cache",
        f"-oDir::Etc::SourceList={state}/sources.list",
        "-oDir::Etc::SourceParts=/dev/null",
        "-oDir::Etc::Preferences=/dev/null",
        "-oDir::Etc::PreferencesParts=/dev/null",
        "-oAPT::Sandbox::User=root",
        "-oAcquire::Check-Valid-Until=false",
        "-oAPT::Install-Recommends=false",
    ]
    result = subprocess.run([tool, *options, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"relock: {tool} {' '.join(args[:2])} failed:\n{result.stderr.strip()}")
    return result.stdout


def mark_installed(state: Path, present: dict[str, tuple[str, str]]) -> None:
    """Writes a dpkg status in which `present` (name -> (version, architecture)) is installed."""
    stanzas = [
        f"Package: {name}\nStatus: install ok installed\nVersion: {version}\nArchitecture: {arch}\n"
        f"Maintainer: relock\nDescription: counted as present\n"
        for name, (version, arch) in sorted(present.items())
    ]
    (state / "status").write_text("\n".join(stanzas))


def sha256s(state: Path, versions: list[str]) -> dict[str, str]:
    """name=version -> SHA256, from the package lists (--print-uris only gives MD5 sums)."""
    found: dict[str, str] = {}
    for stanza in apt(state, "show", "--no-all-versions", *versions, tool="apt-cache").split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|SHA256): (.+)$", stanza, re.MULTILINE))
        if fields:
            found.setdefault(f"{fields['Package']}={fields['Version']}", fields["SHA256"])
    return found


def resolve(state: Path, packages: list[str], base_url: str) -> list[dict[str, str]]:
    entries = []
    for line in apt(state, "install", "--print-uris", "-qq", "-y", *packages).splitlines():
        match = URI_LINE.match(line)
        if not match:
            continue
        name, version, arch = urllib.parse.unquote(match["file"]).removesuffix(".deb").split("_")
        path = match["url"].removeprefix(base_url + "/")
        entries.append({"name": name, "version": version, "architecture": arch, "path": path})
    hashes = sha256s(state, [f"{entry['name']}={entry['version']}" for entry in entries]) if entries else {}
    for entry in entries:
        entry["sha256"] = hashes[f"{entry['name']}={entry['version']}"]
    return sorted(entries, key=lambda entry: entry["name"])


def main() -> None:
    spec = tomllib.loads((HERE / "packages.toml").read_text())
    suite, architecture = spec["suite"], spec["architecture"]
    debian = mirror()
    base_url = debian.removesuffix("/debian")
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        for sub in ("state/lists/partial", "cache/archives/partial"):
            (state / sub).mkdir(parents=True)
        (state / "sources.list").write_text(
            f"deb [arch={architecture}] {debian} {suite} main\n"
            f"deb [arch={architecture}] {debian} {suite}-updates main\n"
            f"deb [arch={architecture}] {base_url}/debian-security {suite}-security main\n"
        )
        print(f"relock: reading the {suite} package lists", file=sys.stderr)
        apt(state, "update", "-qq")

        excluded = {name: ("99:99", architecture) for name in spec["exclude"]["packages"]}
        lock: dict[str, list[dict[str, str]]] = {}
        for group, body in spec["groups"].items():
            # The groups whose layers this one sits on in its image: all earlier ones unless named.
            below = body.get("on", list(lock))
            present = {e["name"]: (e["version"], e["architecture"]) for name in below for e in lock[name]}
            # A group may name a package the global list excludes (the Postgres layer's dash).
            wanted = [name for name in body["packages"] if name not in present]
            skipped = {name: ("99:99", architecture) for name in body.get("exclude", [])}
            absent = {**excluded, **skipped, **present}
            mark_installed(state, {name: pin for name, pin in absent.items() if name not in wanted})
            # apt re-lists a present package when a new one pins its exact version (libatomic1
            # on gcc-14-base drags in the base group's gcc-14 libraries); an earlier group has it.
            resolved = resolve(state, wanted, base_url)
            lock[group] = [e for e in resolved if present.get(e["name"]) != (e["version"], e["architecture"])]
            print(f"relock: {group}: {len(lock[group])} packages", file=sys.stderr)

    out = HERE / f"{suite}.lock.json"
    document = {"suite": suite, "architecture": architecture, "groups": lock}
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"relock: wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
