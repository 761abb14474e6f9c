"""Writes one layer of a py_binary for an image: its third-party site-packages, its own code, or
the launcher that starts it.

- site-packages: every pip wheel's site-packages merged into one /app/site-packages, as pip would
  install them. One directory on sys.path instead of one per wheel repository keeps imports fast.
  It is split over several layers by distribution (site_packages.py); this writes one of them.
- app: every other runfile, at its runfiles path under /app/<name>.runfiles, so data files and the
  runfiles library work as under `bazel run`.
- launcher: /app/<name>, a Python script that exports those as PYTHONPATH and runs the binary's
  main. It takes the place of rules_python's stub, which would add one entry per repository.
.py files are precompiled into unchecked-hash .pyc (no mtimes): the same inputs give the same tar.
"""

import argparse
import filecmp
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.layers.private.layer_tar import write_tree
from tools.layers.private.pyc import compile_tree
from tools.layers.private.site_packages import Layout, partition

SITE_PACKAGES = "/site-packages/"
LAUNCHER = '''\
"""Starts {name} the way `bazel run` would, from the image's merged site-packages."""
import os
import runpy
import sys

RUNFILES = {runfiles!r}
PATH = [os.path.join(RUNFILES, entry) for entry in {imports!r}] + [{site_packages!r}]
# Exported once, here: every Python child process (dvc, Airflow's task runners, uvicorn's
# workers) then sees the same packages, as under `bazel run`, whose stub does the same.
os.environ["PYTHONPATH"] = os.pathsep.join(PATH + [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else PATH)
os.environ.setdefault("RUNFILES_DIR", RUNFILES)
sys.path[0:1] = PATH
sys.argv[0] = os.path.join(RUNFILES, {main!r})
runpy.run_path(sys.argv[0], run_name="__main__")
'''


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
        subprocess.run([strip, "--strip-debug", *libraries[start : start + 200]], check=True)


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as data:
        return data.read(4) == b"\x7fELF"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["site-packages", "app", "launcher"], required=True)
    parser.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help='JSON {"files": [[runfiles path, file or null], ...], "main": path, "imports": [...]}',
    )
    parser.add_argument("--name", required=True, help="the binary's name: /app/<name> is the launcher")
    parser.add_argument("--main-repository", required=True, help="the main repository's runfiles name (_main)")
    parser.add_argument("--prefix", default="/app")
    parser.add_argument("--exclude", action="append", default=[], help="site-packages paths to leave out (fnmatch)")
    parser.add_argument(
        "--site-packages-layout",
        type=json.loads,
        default={"groups": [], "buckets": 1},
        help='JSON {"groups": [[layer, [distribution, ...]], ...], "buckets": N}',
    )
    parser.add_argument("--layer", default="site-packages", help="which of the layout's layers to write")
    parser.add_argument("--compression", choices=["gzip", "zstd"], default="gzip")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    manifest = json.loads(args.manifest.read_text())

    os.umask(0o022)
    runfiles = f"{args.prefix}/{args.name}.runfiles"
    site_packages = f"{args.prefix}/site-packages"
    own_code = args.main_repository + "/"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.part == "launcher":
            imports = [entry for entry in manifest["imports"] if not entry.endswith(SITE_PACKAGES.rstrip("/"))]
            text = LAUNCHER.format(
                name=args.name,
                runfiles=runfiles,
                imports=list(dict.fromkeys([*imports, args.main_repository])),
                site_packages=site_packages,
                main=manifest["main"],
            )
            (root / args.prefix.lstrip("/")).mkdir(parents=True)
            (root / args.prefix.lstrip("/") / args.name).write_text(text)
        else:
            wheels, own = [], []
            for path, source in sorted(manifest["files"], key=lambda item: item[0]):
                if SITE_PACKAGES in "/" + path and not path.startswith(own_code):
                    inside = path.split(SITE_PACKAGES, 1)[-1]
                    # rules_python's own __init__.py, not the wheel's; and the excluded paths.
                    if inside != "__init__.py" and not any(fnmatch.fnmatchcase(inside, p) for p in args.exclude):
                        wheels.append((path.split(SITE_PACKAGES, 1)[0], inside, source))
                else:
                    own.append((path, source))
            if args.part == "site-packages":
                layout = Layout.from_json(args.site_packages_layout)
                mine = layout.names.index(args.layer)
                layer_of = partition(wheels, layout)
                for _, inside, source in wheels:
                    if layer_of[inside] == mine:
                        place(root, f"{site_packages}/{inside}", source)
            else:
                for path, source in own:
                    place(root, f"{runfiles}/{path}", source)
        if args.part == "site-packages":
            strip_debug_info(root)
        compile_tree(root)
        for directory in (d for d in root.rglob("*") if d.is_dir()):
            directory.chmod(0o755)
        root.chmod(0o755)
        write_tree(root, args.out, compression=args.compression)


if __name__ == "__main__":
    main()
