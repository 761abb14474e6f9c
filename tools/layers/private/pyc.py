"""Precompiling a tree's .py files for an image, reproducibly: unchecked-hash .pyc (no mtimes),
each naming the path it will have in the image."""

import compileall
import os
from pathlib import Path


def compile_tree(root: Path) -> None:
    """Writes __pycache__/*.pyc beside every .py below root. Symlinks that point out of the tree
    (Debian's absolute ones, e.g. sitecustomize.py) are left alone: their targets are not here.
    The running interpreter must be the image's Python version."""
    # One process, in compileall's fixed walk order: marshal's output depends on the compiling
    # process's interned strings, so files spread over a pool of workers could differ per run.
    compileall.compile_dir(
        root,
        ddir="/",
        force=True,
        quiet=2,
        workers=1,
        limit_sl_dest=root,
        invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    # py_compile copies each source's mode; the image wants plain readable files.
    for cache in root.rglob("__pycache__"):
        cache.chmod(0o755)
        for compiled in cache.iterdir():
            os.chmod(compiled, 0o644)
