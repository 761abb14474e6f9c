"""Which site-packages layer each installed file goes to.

A distribution's files are those of its wheel's repository, or those its `*.dist-info/RECORD`
lists. Named groups come first, in the order declared (the large, rarely bumped stacks: numpy and
scipy, Airflow's core); every other
distribution goes to one of `buckets` layers chosen by a hash of its name, so bumping one small pin
re-pushes one bucket and never moves another package. A file two distributions list (a namespace
package's `__init__.py`) goes to the earliest layer of the two; a file no RECORD lists, to the last.
Every layer of one image computes the same partition from the same inputs, so no file is in two.
"""

import csv
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RECORD_SUFFIX = ".dist-info/RECORD"


def normalize(name: str) -> str:
    """A project name as the hubs spell it: `scikit-learn`, `scikit_learn` -> `scikit_learn`."""
    return name.lower().replace("-", "_").replace(".", "_")


def distribution_of_record(inside: str) -> str:
    """`numpy-2.5.5.dist-info/RECORD` -> `numpy`."""
    return normalize(inside.removesuffix(RECORD_SUFFIX).rsplit("-", 1)[0])


@dataclass(frozen=True)
class Layout:
    """The site-packages layers of one image: named groups, then hash buckets."""

    groups: tuple[tuple[str, tuple[str, ...]], ...]
    buckets: int

    @classmethod
    def from_json(cls, spec: Mapping) -> "Layout":
        groups = tuple((name, tuple(normalize(d) for d in members)) for name, members in spec["groups"])
        return cls(groups=groups, buckets=int(spec["buckets"]))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.groups] + bucket_names(self.buckets)

    def layer_of_distribution(self, distribution: str) -> int:
        for index, (_, members) in enumerate(self.groups):
            if distribution in members:
                return index
        digest = int(hashlib.sha256(distribution.encode()).hexdigest()[:8], 16)
        return len(self.groups) + digest % self.buckets


def bucket_names(buckets: int) -> list[str]:
    return ["site-packages"] if buckets == 1 else [f"site-packages-{index}" for index in range(buckets)]


def partition(files: Iterable[tuple[str, str, str]], layout: Layout) -> dict[str, int]:
    """Maps each site-packages path (`numpy/__init__.py`) to its layer's index in layout.names.

    files: (repository, path inside its site-packages, source file to read) for every file of the
    image's site-packages. A repository with one `.dist-info` (pip.parse makes one per wheel, and
    leaves RECORD out) belongs to that distribution; in one holding a whole lock (pip_target),
    each RECORD says which files are whose.
    """
    files = list(files)
    dist_infos: dict[str, set[str]] = {}
    for repository, inside, _ in files:
        top = inside.split("/", 1)[0]
        if top.endswith(".dist-info"):
            dist_infos.setdefault(repository, set()).add(top)
    owners: dict[str, list[str]] = {}
    for repository, inside, source in files:
        infos = dist_infos.get(repository, set())
        if len(infos) == 1:
            owners.setdefault(inside, []).append(distribution_of_record(next(iter(infos)) + "/RECORD"))
        elif inside.endswith(RECORD_SUFFIX) and inside.count("/") == 1:
            with open(source, newline="") as record:
                listed_paths = [row[0] for row in csv.reader(record) if row]
            for listed in listed_paths:
                if not listed.startswith("../"):
                    owners.setdefault(listed, []).append(distribution_of_record(inside))
    found = {distribution_of_record(info + "/RECORD") for infos in dist_infos.values() for info in infos}
    missing = sorted({d for _, members in layout.groups for d in members} - found)
    if missing:
        raise SystemExit(
            f"py_image_layers: site_packages_groups names {', '.join(missing)}, which the "
            f"binary does not depend on (it has: {', '.join(sorted(found))})"
        )
    last = len(layout.names) - 1
    return {
        inside: min((layout.layer_of_distribution(d) for d in owners.get(inside, [])), default=last)
        for _, inside, _ in files
    }
