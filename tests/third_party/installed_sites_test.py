"""tools/pip/private/installed_sites.py: a lock installed once is shared by hard links, an install
of another lock is not taken for it, a second publish keeps the first, and only the newest stay."""

import os
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(os.environ["INSTALLED_SITES"])
NOT_CACHED = 3


def run(action: str, cache: Path, lock: Path, tree: Path) -> int:
    command = [sys.executable, str(SCRIPT), action, str(cache), str(lock), str(tree)]
    return subprocess.run(command, capture_output=True, text=True, check=False).returncode


def install(root: Path, lock_text: str) -> tuple[Path, Path]:
    """A lock file and a stand-in for what pip installed from it."""
    root.mkdir(parents=True)
    lock = root / "requirements.lock"
    lock.write_text(lock_text)
    site = root / "site-packages"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text(f"# from {lock_text}\n")
    return lock, site


def test_a_published_install_comes_back_as_hard_links(tmp_path: Path) -> None:
    cache = tmp_path / "sites"
    lock, site = install(tmp_path / "first", "pkg==1.0\n")
    assert run("restore", cache, lock, tmp_path / "before") == NOT_CACHED
    assert not (tmp_path / "before").exists()
    assert run("publish", cache, lock, site) == 0

    restored = tmp_path / "restored" / "site-packages"
    restored.parent.mkdir()
    assert run("restore", cache, lock, restored) == 0
    source, copy = site / "pkg/__init__.py", restored / "pkg/__init__.py"
    assert copy.read_text() == source.read_text()
    (entry,) = cache.iterdir()
    assert copy.stat().st_ino == (entry / "site-packages/pkg/__init__.py").stat().st_ino

    other_lock, _ = install(tmp_path / "other", "pkg==2.0\n")
    assert run("restore", cache, other_lock, tmp_path / "other-restored") == NOT_CACHED


def test_a_second_publish_keeps_the_first(tmp_path: Path) -> None:
    cache = tmp_path / "sites"
    lock, site = install(tmp_path / "first", "pkg==1.0\n")
    assert run("publish", cache, lock, site) == 0
    (entry,) = cache.iterdir()
    inode = (entry / "site-packages/pkg/__init__.py").stat().st_ino
    _, again = install(tmp_path / "again", "pkg==1.0\n")
    assert run("publish", cache, lock, again) == 0
    assert [path.name for path in cache.iterdir()] == [entry.name]  # no staging folder left
    assert (entry / "site-packages/pkg/__init__.py").stat().st_ino == inode


def test_only_the_newest_four_installs_stay(tmp_path: Path) -> None:
    cache = tmp_path / "sites"
    locks = []
    for n in range(6):
        lock, site = install(tmp_path / f"lock-{n}", f"pkg=={n}.0\n")
        assert run("publish", cache, lock, site) == 0
        locks.append(lock)
        time.sleep(0.01)  # distinct mtimes: pruning goes by age
    kept = [n for n, lock in enumerate(locks) if run("restore", cache, lock, tmp_path / f"restored-{n}") == 0]
    assert kept == [2, 3, 4, 5]
