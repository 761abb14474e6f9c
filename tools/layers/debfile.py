"""Reading a Debian package (.deb) without dpkg: its control record and its data tar.

A .deb is an ar archive of debian-binary, control.tar.* and data.tar.*; the tars may be plain,
gzip- or xz-compressed (zstd is not used by Debian's own archive).
"""

import io
import lzma
import re
import tarfile
import zlib
from pathlib import Path

AR_MAGIC = b"!<arch>\n"
AR_HEADER = 60


class DebError(Exception):
    """The file is not a Debian package this reader understands."""


def ar_members(deb: Path) -> dict[str, bytes]:
    """name -> content of each member of the .deb's ar archive."""
    data = deb.read_bytes()
    if not data.startswith(AR_MAGIC):
        raise DebError(f"{deb} is not a Debian package (no ar header)")
    members, offset = {}, len(AR_MAGIC)
    while offset < len(data):
        header = data[offset : offset + AR_HEADER]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        members[name] = data[offset + AR_HEADER : offset + AR_HEADER + size]
        offset += AR_HEADER + size + (size % 2)  # members are 2-byte aligned
    return members


def _open_tar(members: dict[str, bytes], stem: str, deb: Path) -> tarfile.TarFile:
    for name, blob in members.items():
        if not name.startswith(stem):
            continue
        if name.endswith(".xz"):
            blob = lzma.decompress(blob)
        elif name.endswith(".gz"):
            blob = zlib.decompress(blob, 31)
        elif not name.endswith(".tar"):
            raise DebError(f"{deb}: {name} uses a compression this reader does not know")
        return tarfile.open(fileobj=io.BytesIO(blob))
    raise DebError(f"{deb} has no {stem}")


class Deb:
    """One package: `control` is its control record (text), `data()` its file tree as a tar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._members = ar_members(path)
        with _open_tar(self._members, "control.tar", path) as control:
            member = control.extractfile("./control")
            if member is None:
                raise DebError(f"{path} has no control record")
            self.control = member.read().decode()
        package = re.search(r"^Package: (.+)$", self.control, re.MULTILINE)
        if not package:
            raise DebError(f"{path}'s control record names no package")
        self.package = package.group(1)

    def data(self) -> tarfile.TarFile:
        return _open_tar(self._members, "data.tar", self.path)
