"""Turns Debian packages into one reproducible image layer, the way distroless does.

Nothing is installed and no maintainer script runs. Instead this tool:
- unpacks each package's data, with /bin, /lib, /lib64 and /sbin folded into /usr (merged /usr);
- drops documentation, man pages and translations (keeping each package's copyright file);
- writes the package's control record to /var/lib/dpkg/status.d/<name>, so scanners see it;
- does what the few postinsts the image needs would have done: the CA bundle and OpenSSL's links;
- optionally adds the skeleton a root filesystem needs (users, /tmp, mount points, usr-merge links);
- optionally precompiles every .py into deterministic (unchecked-hash) .pyc files.
"""

import argparse
import fnmatch
import os
import re
import sys
import tempfile
from pathlib import Path

from tools.layers.debfile import Deb, DebError
from tools.layers.private.layer_tar import write_tree
from tools.layers.private.pyc import compile_tree

MERGED_USR = ("bin", "sbin", "lib", "lib64")
DROPPED = re.compile(r"^usr/share/(man|info|locale|lintian|bug|doc-base|gtk-doc)/|^usr/share/doc/(?!.+/copyright$)")
NONROOT = 65532


def canonical(name: str) -> str:
    parts = os.path.normpath(name).split("/")
    if parts[0] in MERGED_USR:
        parts.insert(0, "usr")
    return "/".join(parts)


def unpack(deb: Path, root: Path, exclude: list[str]) -> None:
    package = Deb(deb)
    status = root / "var/lib/dpkg/status.d" / package.package
    status.parent.mkdir(parents=True, exist_ok=True)
    record = package.control
    status.write_text(record if record.endswith("\n") else record + "\n")

    with package.data() as data:
        for member in data.getmembers():
            member.name = canonical(member.name)
            if member.name == "." or DROPPED.match(member.name + ("/" if member.isdir() else "")):
                continue
            if any(fnmatch.fnmatchcase(member.name, pattern) for pattern in exclude):
                continue
            if member.islnk():
                member.linkname = canonical(member.linkname)
            target = root / member.name
            if member.isdir() and target.is_dir():
                continue
            if target.is_symlink() or target.is_file():
                target.unlink()
            data.extract(member, root, filter="tar", set_attrs=True)


def write_ca_bundle(root: Path) -> None:
    """ca-certificates' postinst: one PEM bundle of every trusted certificate, plus OpenSSL's links."""
    certificates = sorted((root / "usr/share/ca-certificates").rglob("*.crt"))
    if not certificates:
        return
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(b"".join(cert.read_bytes().rstrip(b"\n") + b"\n" for cert in certificates))
    bundle.chmod(0o644)
    ssl = root / "usr/lib/ssl"
    ssl.mkdir(parents=True, exist_ok=True)
    for name, target in (("certs", "/etc/ssl/certs"), ("cert.pem", "/etc/ssl/certs/ca-certificates.crt")):
        if not (ssl / name).is_symlink():
            (ssl / name).symlink_to(target)


def write_skeleton(root: Path) -> dict[str, tuple[int, int]]:
    """What base-files, passwd and a running system would provide. Returns the non-root owners."""
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\n"
        f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n",
        "etc/group": f"root:x:0:\nnonroot:x:{NONROOT}:\n",
        "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nservices: files\nprotocols: files\n",
        "etc/os-release": 'PRETTY_NAME="Distroless Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="13"\nVERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n',
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
        (root / rel).chmod(0o644)
    for rel, mode in (
        ("tmp", 0o1777),
        ("var/tmp", 0o1777),
        ("root", 0o700),
        ("home/nonroot", 0o700),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("etc/ssl/certs", 0o755),
    ):
        (root / rel).mkdir(parents=True, exist_ok=True)
        (root / rel).chmod(mode)
    for name in MERGED_USR:
        (root / "usr" / name).mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(f"usr/{name}")
    return {"home/nonroot": (NONROOT, NONROOT)}


def compile_python(root: Path, version: str) -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != version:
        raise SystemExit(f"deb_layer: .pyc for Python {version} needs that interpreter; this tool runs {running}")
    compile_tree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", type=Path, action="append", default=[], help="a .deb to unpack, in order")
    parser.add_argument("--exclude", action="append", default=[], help="a path pattern to leave out (fnmatch)")
    parser.add_argument("--skeleton", action="store_true", help="add users, /tmp, mount points and usr-merge links")
    parser.add_argument("--compile-python", metavar="X.Y", help="precompile .py files for this Python version")
    parser.add_argument("--out", type=Path, required=True, help="the layer tar to write")
    args = parser.parse_args()

    os.umask(0o022)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir(mode=0o755)
        owners = write_skeleton(root) if args.skeleton else {}
        for deb in args.deb:
            try:
                unpack(deb, root, args.exclude)
            except DebError as error:
                raise SystemExit(f"deb_layer: {error}") from None
        write_ca_bundle(root)
        if args.compile_python:
            compile_python(root, args.compile_python)
        write_tree(root, args.out, owners)


if __name__ == "__main__":
    main()
