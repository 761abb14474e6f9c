"""apt as a dependency resolver for the project's Debian locks (the images' and the build root's).

Each PrivateApt has its own sources, preferences, dpkg status, lists and cache under a folder of
its own, so it never touches the system's apt, and it can pretend any set of packages is already
installed (apt then leaves them, and their own dependencies, out of a closure). A lock entry
records name, version, architecture, sha256 and the path below the mirror; never the mirror.
"""

import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

# A line of `apt-get install --print-uris`: 'URL' FILE SIZE [HASH].
URI_LINE = re.compile(r"^'(?P<url>[^']+)' (?P<file>\S+) (?P<size>\d+)( \S+)? *$")


def deb822_source(uri: str, suites: str) -> str:
    """One deb822 stanza of the main component, checked with Debian's archive keyring."""
    return (
        f"Types: deb\nURIs: {uri}\nSuites: {suites}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


class PrivateApt:
    """apt-get and apt-cache on a state of their own (see the module's docstring)."""

    def __init__(self, folder: Path, sources: str, preferences: str = "", architecture: str = "amd64") -> None:
        """`sources`: deb822 stanzas; `preferences`: an apt_preferences(5) text."""
        self.folder = folder
        self.architecture = architecture
        for sub in ("state/lists/partial", "cache/archives/partial", "sources.list.d"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / "sources.list.d" / "lock.sources").write_text(sources)
        (folder / "preferences").write_text(preferences)
        (folder / "status").write_text("")

    def run(self, *args: str, tool: str = "apt-get") -> str:
        """The tool's standard output; when it fails, exit with the command and apt's own error."""
        options = [
            f"-oDir::State={self.folder}/state",
            f"-oDir::State::status={self.folder}/status",
            f"-oDir::Cache={self.folder}/cache",
            "-oDir::Etc::SourceList=/dev/null",
            f"-oDir::Etc::SourceParts={self.folder}/sources.list.d",
            f"-oDir::Etc::Preferences={self.folder}/preferences",
            "-oDir::Etc::PreferencesParts=/dev/null",
            f"-oAPT::Architecture={self.architecture}",
            "-oAPT::Sandbox::User=root",
            "-oAPT::Install-Recommends=false",
        ]
        result = subprocess.run([tool, *options, *args], capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"relock: {tool} {' '.join(args[:2])} failed:\n{result.stderr.strip()}")
        return result.stdout

    def update(self) -> None:
        self.run("update", "-qq")

    def mark_installed(self, present: dict[str, tuple[str, str]]) -> None:
        """A dpkg status in which `present` (name -> (version, architecture)) is installed."""
        stanzas = [
            f"Package: {name}\nStatus: install ok installed\nVersion: {version}\nArchitecture: {arch}\n"
            f"Maintainer: relock\nDescription: counted as present\n"
            for name, (version, arch) in sorted(present.items())
        ]
        (self.folder / "status").write_text("\n".join(stanzas))

    def available(self) -> list[dict[str, str]]:
        """Every candidate version in the package lists, as its stanza's fields."""
        stanzas = self.run("dumpavail", tool="apt-cache").split("\n\n")
        return [dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.MULTILINE)) for stanza in stanzas if stanza.strip()]

    def _sha256s(self, versions: list[str]) -> dict[str, str]:
        """name=version -> SHA256, from the package lists (--print-uris only gives MD5 sums)."""
        found: dict[str, str] = {}
        for stanza in self.run("show", "--no-all-versions", *versions, tool="apt-cache").split("\n\n"):
            fields = dict(re.findall(r"^(Package|Version|SHA256): (.+)$", stanza, re.MULTILINE))
            if fields:
                found.setdefault(f"{fields['Package']}={fields['Version']}", fields["SHA256"])
        return found

    def closure(self, packages: list[str], archive_root: str) -> list[dict[str, str]]:
        """What installing `packages` would download, beyond what the status holds: lock entries,
        sorted by name. `archive_root` is the mirror's URL above its archives (…/debian goes)."""
        entries: dict[str, dict[str, str]] = {}  # apt may list a file twice; by its name
        for line in self.run("install", "--print-uris", "-qq", "-y", *packages).splitlines():
            match = URI_LINE.match(line)
            if not match:
                continue
            name, version, arch = urllib.parse.unquote(match["file"]).removesuffix(".deb").split("_")
            path = match["url"].removeprefix(archive_root + "/")
            entries[match["file"]] = {"name": name, "version": version, "architecture": arch, "path": path}
        hashes = self._sha256s([f"{e['name']}={e['version']}" for e in entries.values()]) if entries else {}
        for entry in entries.values():
            entry["sha256"] = hashes[f"{entry['name']}={entry['version']}"]
        return sorted(entries.values(), key=lambda entry: entry["name"])
