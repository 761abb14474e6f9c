"""The checkout, for tests of the whole source tree: lint, and Bazel run again in a copy.

They read it from @checkout//:checkout.tar (what git would commit), a declared input, rather than
from the checkout's path: Bazel reruns them when a file changes, and only then, and a clone in
another folder reuses their results through the disk cache. Their BUILD target lists the tar in
`data` and passes `CHECKOUT_TAR = $(rootpath @checkout//:checkout.tar)` in `env`.
"""

import os
import tarfile
from pathlib import Path


def unpack_checkout(destination: Path) -> Path:
    """Unpacks the checkout into `destination` (no .git, bazel-* links or __pycache__ in it)."""
    with tarfile.open(os.environ["CHECKOUT_TAR"]) as archive:
        archive.extractall(destination, filter="tar")
    return destination
