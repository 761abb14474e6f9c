"""Writes a directory tree as a reproducible, compressed tar layer (gzip, or zstd).

Entries are sorted, owned by uid/gid 0 with empty names unless an owner is declared, have mtime 0,
keep their mode bits, and hard links stay hard links; the gzip stream has mtime 0 and no file name,
and zstd runs single-threaded at a fixed level (its output depends only on the input and level).
The same tree always gives the same bytes, so oci_image takes the file as the layer blob as is.
"""

import contextlib
import gzip
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

Owner = tuple[int, int]


def _entries(root: Path) -> list[str]:
    """Every path below root, relative, parents before children, in byte order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            found.append(os.path.normpath(os.path.join(base, name)))
    return sorted(found, key=lambda path: path.encode())


# zstd -9 makes the Airflow image's wheels about 18% smaller than gzip -6, at gzip's speed
# (measured in bench/images); higher levels take several times longer for a few percent more.
ZSTD_LEVEL = 9


@contextlib.contextmanager
def _compressed(out: Path, compression: str) -> Iterator[BinaryIO]:
    with open(out, "wb") as sink:
        if compression == "gzip":
            with gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6) as zipped:
                yield zipped
            return
        # Python 3.13 has no zstd module; the build root's zstd (tools/buildroot/recipe.sh) encodes.
        with subprocess.Popen(
            ["zstd", "-q", f"-{ZSTD_LEVEL}", "-T1", "-c"], stdin=subprocess.PIPE, stdout=sink
        ) as zstd:
            assert zstd.stdin is not None
            yield zstd.stdin
            zstd.stdin.close()
        if zstd.returncode != 0:
            raise SystemExit(f"layer_tar: zstd failed writing {out}")


def write_tree(
    root: Path, out: Path, owners: Mapping[str, Owner] | None = None, prefix: str = "", compression: str = "gzip"
) -> None:
    """Writes root's contents to out (.tar.gz, or .tar.zst) as a tar whose member names start with
    `prefix`.

    owners maps a path (relative to root, without prefix) to the uid/gid it must have; every other
    entry belongs to root.
    """
    owners = owners or {}
    first_link: dict[tuple[int, int], str] = {}
    with (
        _compressed(out, compression) as compressed,
        # A pipe to zstd cannot seek: write it as a stream.
        tarfile.open(
            fileobj=compressed, mode="w" if compression == "gzip" else "w|", format=tarfile.GNU_FORMAT
        ) as archive,
    ):
        for rel in _entries(root):
            path = root / rel
            st = path.lstat()
            info = tarfile.TarInfo(os.path.join(prefix, rel) if prefix else rel)
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = owners.get(rel, (0, 0))
            info.uname = info.gname = ""
            info.mtime = 0
            if stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                archive.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in first_link:
                    info.type = tarfile.LNKTYPE
                    info.linkname = first_link[key]
                    archive.addfile(info)
                    continue
                first_link[key] = info.name
                info.size = st.st_size
                with open(path, "rb") as data:
                    archive.addfile(info, data)
            else:
                raise ValueError(f"{rel}: only files, directories and symlinks belong in a layer")
