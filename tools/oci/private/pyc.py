"""Precompiling a tree's .py files for an image, reproducibly: unchecked-hash .pyc (no mtimes),
each naming the path it will have in the image."""

import os
import py_compile
from pathlib import Path


def compile_tree(root: Path) -> None:
    """Writes __pycache__/*.pyc beside every .py below root (symlinks left alone); the running
    interpreter must be the image's Python version."""
    for source in sorted(root.rglob("*.py")):
        if source.is_symlink() or "__pycache__" in source.parts:
            continue
        cfile = py_compile.compile(str(source), dfile="/" + str(source.relative_to(root)), quiet=2,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        if cfile:
            os.chmod(cfile, 0o644)
    for cache in root.rglob("__pycache__"):
        cache.chmod(0o755)
