"""Turns uv's pylock.toml (PEP 751) for a lock into `<set>.files.json`: every file each pin may be
installed from on the build root's platform, by file name, with its sha256.

    python3 package_files.py PYLOCK.toml > server.files.json

The requirements-format lock lists the hashes of every file of a release, for every platform,
without their names; an SBOM must name the one file that was installed (tools/sbom). The index's
URLs are dropped: they name the registry's host, which the repository never records.
"""

import json
import re
import sys
import tomllib
from pathlib import Path


def normalize(name: str) -> str:
    """PEP 503's normal form, with `_` as the hubs spell it: `scikit-learn` -> `scikit_learn`."""
    return re.sub(r"[-_.]+", "_", name).lower()


def file_name(entry: dict) -> str:
    return entry.get("name") or entry["url"].rsplit("/", 1)[-1]


def package_files(pylock: dict) -> dict[str, dict]:
    table = {}
    for package in pylock["packages"]:
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        table[normalize(package["name"])] = {
            "version": package["version"],
            "files": {file_name(entry): entry["hashes"]["sha256"] for entry in files},
        }
    return dict(sorted(table.items()))


def main() -> int:
    pylock = tomllib.loads(Path(sys.argv[1]).read_text())
    json.dump(package_files(pylock), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
