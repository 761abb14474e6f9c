"""Writes a reproducible layer tar holding empty directories with the owners and modes given,
and files copied in, owned by root with the mode given. Parents not listed belong to root, 0755."""

import argparse
import shutil
import tempfile
from pathlib import Path

from tools.layers.private.layer_tar import write_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", action="append", default=[], metavar="PATH:UID:GID:MODE")
    parser.add_argument("--file", action="append", default=[], metavar="SOURCE:PATH:MODE")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    owners = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for spec in args.dir:
            path, uid, gid, mode = spec.rsplit(":", 3)
            path = path.strip("/")
            (root / path).mkdir(parents=True, exist_ok=True)
            for parent in (root / path).parents:
                if parent != root and parent.is_relative_to(root):
                    parent.chmod(0o755)
            (root / path).chmod(int(mode, 8))
            owners[path] = (int(uid), int(gid))
        for spec in args.file:
            source, path, mode = spec.rsplit(":", 2)
            target = root / path.strip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            for parent in target.parents:
                if parent != root and parent.is_relative_to(root) and parent.relative_to(root).as_posix() not in owners:
                    parent.chmod(0o755)
            shutil.copyfile(source, target)
            target.chmod(int(mode, 8))
        write_tree(root, args.out, owners)


if __name__ == "__main__":
    main()
