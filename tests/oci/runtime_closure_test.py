"""Each image holds only what runs.

- Python: every distribution in an image's site-packages is in the runtime closure of its lock:
  the packages reachable from the requirements above `# Tests only.` in the lock's .in file,
  following the lock's own `# via` annotations (uv's resolution, not the build's graph). The
  server's and Airflow's images hold every requirement above `# Stack images.` (or the marker
  for tests); the stack's other images hold the ones named here.
- Debian: every package with a dpkg record in an image is in the Depends/Pre-Depends closure of
  the packages third_party/debian/packages.toml lists for the image's groups.
"""

import os
import re
import tomllib
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import pytest

from tools.oci.layout import blob_path, image_manifests, open_layer

# image -> (its Python lock's set, or None for no third-party Python; the requirements it must
# hold, or None for all of the set's own; its Debian groups)
IMAGES = {
    "SERVER": ("server", None, ["base", "python"]),
    "AIRFLOW": ("airflow", None, ["base", "python"]),
    "POSTGRES": (None, None, ["base", "python", "postgres"]),
    "MLFLOW": ("server", {"mlflow", "psycopg2_binary", "boto3"}, ["base", "python"]),
    "S3": (None, None, ["base"]),
    "REDIS": (None, None, ["base", "python", "redis"]),
}
LOCKS = Path(os.environ["PYTHON_LOCKS"])
DEBIAN_PACKAGES = Path(os.environ["DEBIAN_PACKAGES"])
TESTS_ONLY = "# Tests only."
STACK_IMAGES = "# Stack images."
DIST_INFO = re.compile(r"app/site-packages/([^/]+)-[^/-]+\.dist-info/METADATA$")
DPKG_RECORD = "var/lib/dpkg/status.d/"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def requirement_name(line: str) -> str:
    return normalize(re.split(r"[\s\[=<>!~;@]", line.strip(), maxsplit=1)[0])


def in_file_roots(text: str) -> tuple[set[str], set[str], set[str]]:
    """(the set's own roots, the stack images' roots, test-only roots) of a .in file."""
    runtime, _, tests = text.partition(TESTS_ONLY)
    own, _, stack = runtime.partition(STACK_IMAGES)

    def names(part: str) -> set[str]:
        return {requirement_name(line) for line in part.splitlines() if line.strip() and not line.startswith("#")}

    return names(own), names(stack), names(tests)


def lock_children(text: str) -> dict[str, set[str]]:
    """parent -> the packages the lock says it brought in (`# via parent`)."""
    children: dict[str, set[str]] = {}
    package = None
    in_via = False
    for line in text.splitlines():
        if line and not line[0].isspace() and "==" in line:
            package, in_via = requirement_name(line), False
            continue
        stripped = line.strip()
        if stripped.startswith("# via"):
            in_via = True
            parents = [stripped.removeprefix("# via").strip()]
        elif in_via and stripped.startswith("#   "):
            parents = [stripped.removeprefix("#").strip()]
        else:
            in_via = False
            continue
        for parent in (p for p in parents if p and not p.startswith("-r ")):
            children.setdefault(requirement_name(parent), set()).add(package)
    return children


def closure(roots: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    seen, queue = set(roots), deque(roots)
    while queue:
        for child in edges.get(queue.popleft(), ()):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return seen


def image_members(layout: Path) -> dict[str, bytes | None]:
    """Every file of the image's layers: the dist-info METADATA and dpkg records with their text."""
    [(_, manifest)] = image_manifests(layout)
    found: dict[str, bytes | None] = {}
    for layer in manifest["layers"]:
        with open_layer(blob_path(layout, layer["digest"])) as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                wanted = member.isfile() and name.startswith(DPKG_RECORD)
                found[name] = archive.extractfile(member).read() if wanted else None
    return found


@pytest.fixture(scope="module", params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> tuple[str, dict[str, bytes | None]]:
    return request.param, image_members(Path(os.environ[request.param]))


def test_python_distributions_are_the_runtime_closure(image: tuple[str, dict[str, bytes | None]]) -> None:
    name, members = image
    lock_set, required, _ = IMAGES[name]
    shipped = {normalize(match[1]) for path in members if (match := DIST_INFO.search(path))}
    if lock_set is None:
        assert shipped == set(), f"{name} has no third-party Python, yet ships {sorted(shipped)}"
        return
    own, stack, tests_only = in_file_roots((LOCKS / f"{lock_set}.in").read_text())
    children = lock_children((LOCKS / f"{lock_set}.lock").read_text())
    allowed = closure(own | stack, children)
    # The test-only requirements are really outside the runtime closure, so this test can fail.
    assert tests_only and not tests_only & allowed, f"{lock_set}.in: {sorted(tests_only & allowed)} are runtime too"
    required = own if required is None else required
    assert required <= shipped, f"{name} lacks its own requirements {sorted(required - shipped)}"
    extra = shipped - allowed
    assert not extra, f"{name} ships {sorted(extra)}, which only tests need ({lock_set}.lock)"


def dpkg_fields(record: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in record.decode().splitlines():
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def dependencies(fields: dict[str, str]) -> list[list[str]]:
    """Depends and Pre-Depends, as lists of alternatives, without versions or arch qualifiers."""
    relations = ", ".join(fields[key] for key in ("Pre-Depends", "Depends") if key in fields)
    return [
        [re.split(r"[\s(:]", alt.strip(), maxsplit=1)[0] for alt in group.split("|")]
        for group in relations.split(",")
        if group.strip()
    ]


def test_debian_packages_are_the_dependency_closure(image: tuple[str, dict[str, bytes | None]]) -> None:
    name, members = image
    groups = tomllib.loads(DEBIAN_PACKAGES.read_text())["groups"]
    records = {
        path.removeprefix(DPKG_RECORD): dpkg_fields(text)
        for path, text in members.items()
        if path.startswith(DPKG_RECORD) and text is not None
    }
    providers: dict[str, set[str]] = {}
    for package, fields in records.items():
        providers.setdefault(package, set()).add(package)
        for provided in fields.get("Provides", "").split(","):
            if provided.strip():
                providers.setdefault(re.split(r"[\s(]", provided.strip(), maxsplit=1)[0], set()).add(package)
    edges = {
        package: {found for group in dependencies(fields) for alt in group for found in providers.get(alt, ())}
        for package, fields in records.items()
    }
    roots = {package for group in IMAGES[name][2] for package in groups[group]["packages"]} & set(records)
    assert roots, f"{name}: none of its groups' packages has a dpkg record"
    extra = set(records) - closure(roots, edges)
    assert not extra, f"{name} holds Debian packages no listed package needs: {sorted(extra)}"
