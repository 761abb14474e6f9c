"""A user's installed locks, shared by every output base: the `pip_target` repository rule installs
a lock once, and each later output base takes hard links to the installed files.

`pip install --target` of the server lock writes 44,000 files (1.2 GB): 34 s here, nearly all of it
the kernel creating files, and a fresh clone, or a test's nested build, paid it again for each hub.
Hard links to the same files take about 1.5 s. Where links cannot go (another file system, such
as a test's tmpfs, or another mount), the files are copied, which still skips pip.

    python3 installed_sites.py restore CACHE LOCK DEST   exit 0: DEST holds the install; 3: not cached
    python3 installed_sites.py publish CACHE LOCK SRC    shares SRC, an install of LOCK

An install is keyed by the lock's bytes and the interpreter and pip that made it. Each entry only
ever appears by an atomic rename, so a half-published one is never taken; the newest few stay.
The links share inodes, which is safe because nothing writes into an installed file: the image
layers copy them (tools/layers), and Bazel reads them.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

NOT_CACHED = 3
# Two hubs, each with room for the install before and after a relock.
KEEP = 4


def key(lock: Path) -> str:
    digest = hashlib.sha256(lock.read_bytes())
    digest.update(f"{sys.version}\npip {version('pip')}\n".encode())
    return digest.hexdigest()[:16]


def _can_link(src: Path, dest_dir: Path) -> bool:
    """Whether hard links from src's tree reach dest_dir, tried on one file: `cp --link` would
    otherwise fail once per file (44,000 of them) before the copy began."""
    sample = next((path for path in src.rglob("*") if path.is_file() and not path.is_symlink()), None)
    if sample is None:
        return False
    probe = dest_dir / f".link-probe-{os.getpid()}"
    try:
        os.link(sample, probe)
    except OSError:
        return False
    probe.unlink()
    return True


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard links src's tree into dest (a new folder), or copies it where links cannot cross: to
    another file system, or another mount of the same one (the build root binds its home and
    Bazel's output root separately, and link(2) fails across the two)."""
    if _can_link(src, dest.parent):
        linked = subprocess.run(["cp", "-a", "--link", str(src), str(dest)], capture_output=True, check=False)
        if linked.returncode == 0:
            return
        shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["cp", "-a", str(src), str(dest)], check=True)


def restore(cache: Path, lock: Path, dest: Path) -> int:
    entry = cache / key(lock)
    if not (entry / "site-packages").is_dir():
        return NOT_CACHED
    try:
        _link_or_copy(entry / "site-packages", dest)
        os.utime(entry)  # newest first when pruning
    except (OSError, subprocess.CalledProcessError) as error:
        # Pruned by another output base mid-copy, or a full disk: install afresh instead.
        print(f"installed_sites: cannot reuse {entry} ({error}); installing the lock", file=sys.stderr)
        shutil.rmtree(dest, ignore_errors=True)
        return NOT_CACHED
    return 0


def publish(cache: Path, lock: Path, src: Path) -> int:
    cache.mkdir(parents=True, exist_ok=True)
    entry = cache / key(lock)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=cache))
    staging.chmod(0o755)
    try:
        _link_or_copy(src, staging / "site-packages")
        os.rename(staging, entry)
    except OSError:
        pass  # another output base published the same install first; keep theirs
    except subprocess.CalledProcessError as error:
        print(f"installed_sites: not shared ({error}); the next output base installs again", file=sys.stderr)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    entries = sorted(cache.iterdir(), key=lambda p: -p.stat().st_mtime)
    published = [p for p in entries if not p.name.startswith(".")]
    # Staging folders an interrupted run left behind go once they are a day old.
    abandoned = [p for p in entries if p.name.startswith(".") and time.time() - p.stat().st_mtime > 86400]
    for old in published[KEEP:] + abandoned:
        shutil.rmtree(old, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["restore", "publish"])
    parser.add_argument("cache", type=Path, help="the shared folder, under the user's cache")
    parser.add_argument("lock", type=Path, help="the hash-pinned lock that was installed")
    parser.add_argument("tree", type=Path, help="restore: the folder to create; publish: the install")
    args = parser.parse_args()
    if args.action == "restore":
        return restore(args.cache, args.lock, args.tree)
    return publish(args.cache, args.lock, args.tree)


if __name__ == "__main__":
    sys.exit(main())
