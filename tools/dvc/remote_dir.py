"""Lays files out as a DVC 3 local remote: files/md5/<first two hex digits>/<other thirty>."""

import argparse
import hashlib
import shutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args()
    for path in args.files:
        with open(path, "rb") as data:
            digest = hashlib.file_digest(data, "md5").hexdigest()
        target = args.out / "files" / "md5" / digest[:2] / digest[2:]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(0o444)  # DVC keeps objects read-only


if __name__ == "__main__":
    main()
