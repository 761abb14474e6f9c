"""Writes one layer of a py_binary for an image: its third-party site-packages, its own code, or
the launcher that starts it.

- site-packages: every pip wheel's site-packages merged into one /app/site-packages, as pip would
  install them. One directory on sys.path instead of one per wheel repository keeps imports fast.
- app: every other runfile, at its runfiles path under /app/<name>.runfiles, so data files and the
  runfiles library work as under `bazel run`.
- launcher: /app/<name>, a Python script that puts those on sys.path and runs the binary's main.
  It takes the place of rules_python's stub, which would add one sys.path entry per repository.
.py files are precompiled into unchecked-hash .pyc (no mtimes): the same inputs give the same tar.
"""

import argparse
import filecmp
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.oci.private.layer_tar import write_tree
from tools.oci.private.pyc import compile_tree

SITE_PACKAGES = "/site-packages/"
LAUNCHER = '''\
"""Starts {name} the way `bazel run` would, from the image's merged site-packages."""
import os
import runpy
import sys

RUNFILES = {runfiles!r}
sys.path[0:1] = [os.path.join(RUNFILES, entry) for entry in {imports!r}] + [{site_packages!r}]
os.environ.setdefault("RUNFILES_DIR", RUNFILES)
sys.argv[0] = os.path.join(RUNFILES, {main!r})
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def stub_settings(stub: Path) -> tuple[str, list[str]]:
    """The main file and import paths rules_python wrote into the py_binary's stub."""
    text = stub.read_text()
    main = re.search(r"^\s*main_rel_path = '([^']+)'", text, re.MULTILINE)
    imports = re.search(r"^\s*python_imports = '([^']*)'", text, re.MULTILINE)
    if not main or not imports:
        raise SystemExit(f"py_layer: {stub} does not look like a rules_python py_binary stub")
    return main.group(1), [entry for entry in imports.group(1).split(":") if entry]


def place(root: Path, dest: str, source: str | None) -> None:
    """Copies one runfile (a file, an empty __init__.py when source is None, or a whole directory
    a rule declared as its output) to dest below root."""
    if source is not None and os.path.isdir(source):
        for child in sorted(Path(source).rglob("*")):
            if child.is_file():
                place(root, f"{dest}/{child.relative_to(source)}", str(child))
        return
    target = root / dest.lstrip("/")
    if target.exists():
        if source and not filecmp.cmp(source, target, shallow=False):
            print(f"py_layer: warning: {dest} comes from two wheels; keeping the first", file=sys.stderr)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        target.touch()
    else:
        shutil.copyfile(source, target)
        if os.access(source, os.X_OK):
            target.chmod(0o755)
    target.chmod(target.stat().st_mode & 0o755 | 0o644)


def strip_debug_info(root: Path) -> None:
    """Many wheels ship shared libraries with their debug info (uvloop: 14 MB of it); Debian's
    packages never do. Symbols stay, so tracebacks and profilers still name functions."""
    libraries = [str(path) for path in sorted(root.rglob("*")) if path.is_file() and _is_elf(path)]
    strip = shutil.which("x86_64-linux-gnu-strip") or shutil.which("strip") or "/usr/bin/x86_64-linux-gnu-strip"
    for start in range(0, len(libraries), 200):
        subprocess.run([strip, "--strip-debug", *libraries[start:start + 200]], check=True)


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as data:
        return data.read(4) == b"\x7fELF"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["site-packages", "app", "launcher"], required=True)
    parser.add_argument("--manifest", type=Path, required=True, help="JSON [[runfiles path, file or null], ...]")
    parser.add_argument("--stub", type=Path, required=True, help="the py_binary's executable")
    parser.add_argument("--name", required=True, help="the binary's name: /app/<name> is the launcher")
    parser.add_argument("--prefix", default="/app")
    parser.add_argument("--exclude", action="append", default=[], help="site-packages paths to leave out (fnmatch)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    os.umask(0o022)
    runfiles = f"{args.prefix}/{args.name}.runfiles"
    site_packages = f"{args.prefix}/site-packages"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.part == "launcher":
            main_path, imports = stub_settings(args.stub)
            own = [entry for entry in imports if not entry.endswith(SITE_PACKAGES.rstrip("/"))] + ["_main"]
            text = LAUNCHER.format(name=args.name, runfiles=runfiles, imports=own, site_packages=site_packages, main=main_path)
            (root / args.prefix.lstrip("/")).mkdir(parents=True)
            (root / args.prefix.lstrip("/") / args.name).write_text(text)
        else:
            for path, source in sorted(json.loads(args.manifest.read_text()), key=lambda item: item[0]):
                third_party = SITE_PACKAGES in "/" + path and not path.startswith("_main/")
                inside = path.split(SITE_PACKAGES, 1)[-1]
                if args.part == "site-packages" and third_party and inside != "__init__.py":  # rules_python's, not the wheel's
                    if not any(fnmatch.fnmatchcase(inside, pattern) for pattern in args.exclude):
                        place(root, f"{site_packages}/{inside}", source)
                elif args.part == "app" and not third_party:
                    place(root, f"{runfiles}/{path}", source)
        if args.part == "site-packages":
            strip_debug_info(root)
        compile_tree(root)
        for directory in (d for d in root.rglob("*") if d.is_dir()):
            directory.chmod(0o755)
        root.chmod(0o755)
        write_tree(root, args.out)


if __name__ == "__main__":
    main()
