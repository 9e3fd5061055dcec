"""The import rules of docs/architecture.md, checked from the source.

Every `import` and `from ... import` statement of the four packages is read with `ast`, wherever it stands (module
level, inside functions, under `if TYPE_CHECKING:`), relative or absolute, plus `importlib.import_module("literal")`.
`from X import name` counts as an import of the module X.name when X.name is a module of the tree, else of X.

The checker functions take the root directory of a tree, so the tests at the bottom plant small trees in tmp_path
and prove that the checker sees a circle, a forbidden arrow and a stray file.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO

PACKAGES = ("station", "api", "drivers", "matching")

# Layers: a module of the package on the left never imports a module under any of the prefixes on the right.
FORBIDDEN = {
    "matching": ("station", "api", "drivers", "flask"),
    "drivers": ("station", "api", "matching", "flask"),
    "station": ("api", "flask"),
    # The API calls the station's services, never its database layer, drivers or matchers.
    "api": ("drivers", "matching", "sqlalchemy", "nbis", "face_recognition", "cv2", "station.db"),
}

# Each allowed exception to a rule, by (importing module, forbidden prefix), with its reason. Nothing else is allowed.
LAYER_EXCEPTIONS = {
    ("station.cli.main", "api"): "the `station serve` command is the process entry point: it hands a built Station "
                                 "to api.create_app and the app to the WSGI server",
}

# Fences: these packages are test and development tooling; only the listed importers may reach into them.
FENCED = ("station.bench", "station.simulation")
FENCE_IMPORTERS = ("station.cli", "station.runtime", "station.bench", "station.simulation", "tests")
FENCE_EXCEPTIONS: dict[tuple[str, str], str] = {}

# The files allowed directly inside station/: everything else lives in a room (a sub-package).
STATION_ROOT_FILES = {"__init__.py", "__main__.py", "runtime.py", "config.py", "errors.py", "cnic.py"}

# Import circles allowed, by their sorted member tuple, with the reason. None.
CIRCLE_EXCEPTIONS: dict[tuple[str, ...], str] = {}


# --- the checker -------------------------------------------------------------------------------------------------

def under(name: str, prefix: str) -> bool:
    """True when the dotted module name is the prefix or lies below it."""
    return name == prefix or name.startswith(prefix + ".")


def find_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages under root."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _literal_import_module(node: ast.Call) -> str | None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str) and not node.args[0].value.startswith("."):
        return node.args[0].value
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules the file imports: a module of the tree by its (longest existing) dotted name, an outside module
    (flask, sqlalchemy...) by the dotted name written. The module itself is left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    written: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            written |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    continue  # beyond the top-level package: not importable, Python raises
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:
                child = f"{module}.{alias.name}" if module else alias.name
                written.add(child if child in modules else module)
        elif isinstance(node, ast.Call):
            literal = _literal_import_module(node)
            if literal:
                written.add(literal)
    resolved = set()
    for module in written:
        if not module:
            continue
        if module.split(".")[0] in {m.split(".")[0] for m in modules}:
            known = module
            while known and known not in modules:
                known = known.rpartition(".")[0]
            module = known or module  # a module of the tree that does not exist stays as written
        if module != name:
            resolved.add(module)
    return resolved


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """Every module of the tree -> every module it imports (inside the tree or not)."""
    modules = find_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_violations(root: Path, graph: dict[str, set[str]] | None = None) -> list[str]:
    graph = import_graph(root) if graph is None else graph
    found = []
    for module, imported in sorted(graph.items()):
        rules = FORBIDDEN.get(module.split(".")[0], ())
        for target in sorted(imported):
            for prefix in rules:
                if under(target, prefix) and (module, prefix) not in LAYER_EXCEPTIONS:
                    found.append(f"{module} imports {target} ({module.split('.')[0]}/ never imports {prefix})")
    return found


def fence_violations(root: Path, graph: dict[str, set[str]] | None = None) -> list[str]:
    graph = import_graph(root) if graph is None else graph
    found = []
    for module, imported in sorted(graph.items()):
        if any(under(module, allowed) for allowed in FENCE_IMPORTERS):
            continue
        for target in sorted(imported):
            for fenced in FENCED:
                if under(target, fenced) and (module, fenced) not in FENCE_EXCEPTIONS:
                    found.append(f"{module} imports {target} (only {', '.join(FENCE_IMPORTERS)} may import {fenced})")
    return found


def stray_station_files(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "station").iterdir()
                  if path.is_file() and path.name not in STATION_ROOT_FILES)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one node (iterative: no recursion limit), each sorted.
    Edges to nodes that are not keys of the graph (outside modules) are ignored."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(w for w in graph[start] if w in graph)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(w for w in graph[succ] if w in graph))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components)


def one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest path from the component's first member back to itself, inside the component."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & members):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start] + path[::-1][1:] + [start]
                if succ not in previous:
                    previous[succ] = node
                    following.append(succ)
        frontier = following
    return component


def circles(root: Path, graph: dict[str, set[str]] | None = None) -> list[str]:
    graph = import_graph(root) if graph is None else graph
    return [f"{len(component)} modules {component}: e.g. {' -> '.join(one_cycle(graph, component))}"
            for component in strongly_connected(graph) if tuple(component) not in CIRCLE_EXCEPTIONS]


# --- the rules, on this repository -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(REPO)


def test_layers_respect_their_boundaries(graph):
    found = layer_violations(REPO, graph)
    assert not found, "forbidden imports:\n" + "\n".join(found)


def test_only_the_command_line_and_the_runtime_reach_bench_and_simulation(graph):
    found = fence_violations(REPO, graph)
    assert not found, "fenced imports:\n" + "\n".join(found)


def test_station_root_holds_only_the_composition_root_and_shared_basics():
    found = stray_station_files(REPO)
    assert not found, f"files directly inside station/ that belong in a room: {found}"


def test_no_import_circles(graph):
    found = circles(REPO, graph)
    assert not found, f"{len(found)} import circles:\n" + "\n".join(found)


def test_every_exception_is_still_needed(graph):
    for module, prefix in LAYER_EXCEPTIONS:
        assert any(under(target, prefix) for target in graph.get(module, ())), \
            f"{module} no longer imports {prefix}: drop the exception"
    for module, fenced in FENCE_EXCEPTIONS:
        assert any(under(target, fenced) for target in graph.get(module, ())), \
            f"{module} no longer imports {fenced}: drop the exception"
    live = {tuple(component) for component in strongly_connected(graph)}
    assert not set(CIRCLE_EXCEPTIONS) - live, "allowed circles that no longer exist"


# --- the checker, on planted trees -------------------------------------------------------------------------------

def plant(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            if parent != Path(".") and not (root / parent / "__init__.py").exists():
                (root / parent / "__init__.py").write_text("")
        path.write_text(text)
    return root


def test_the_checker_sees_imports_on_this_repository(graph):
    assert "flask" in graph["api"]
    assert "station.cli.authority" in graph["station.cli.main"]  # `from station.cli import authority`: the module
    assert "api" in graph["station.cli.main"]  # imported inside the `serve` function


def test_strongly_connected_components_of_a_synthetic_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d", "flask"}, "f": {"a"}, "g": set()}
    assert strongly_connected(graph) == [["a", "b", "c"], ["d", "e"]]
    assert one_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert strongly_connected({"x": {"y"}, "y": set()}) == []


def test_a_long_chain_needs_no_recursion():
    graph = {f"m{i}": {f"m{i + 1}"} for i in range(5000)} | {"m5000": {"m0"}}
    assert len(strongly_connected(graph)[0]) == 5001


def test_a_planted_circle_is_found(tmp_path):
    plant(tmp_path, {
        "station/roll/a.py": "from station.roll import b\n",  # resolves to the submodule station.roll.b
        "station/roll/b.py": "def late():\n    from .c import thing\n",  # relative, inside a function
        "station/roll/c.py": "import station.roll.a as a\nthing = 1\n",
        "station/polling/d.py": "from station.roll.a import anything\n",  # into the circle, not part of it
    })
    found = circles(tmp_path)
    assert len(found) == 1
    assert "['station.roll.a', 'station.roll.b', 'station.roll.c']" in found[0]
    assert "station.roll.a -> station.roll.b -> station.roll.c -> station.roll.a" in found[0]


def test_a_package_importing_its_own_init_from_a_submodule_is_a_circle(tmp_path):
    plant(tmp_path, {
        "station/bench/__init__.py": "from . import flow\n",
        "station/bench/flow.py": "from station.bench import settings\n",  # a name of __init__: the package itself
    })
    assert strongly_connected(import_graph(tmp_path)) == [["station.bench", "station.bench.flow"]]


def test_a_planted_forbidden_arrow_is_reported(tmp_path):
    plant(tmp_path, {
        "station/roll/x.py": "def build():\n    import station.simulation.roll\n",
        "station/roll/y.py": "from ..simulation import names\n",  # relative, two levels up
        "station/cli/main.py": "from station.bench import flow\nfrom station.simulation import demo\n"
                               "def serve():\n    from api import create_app\n",
        "station/runtime.py": "from station import simulation\n",
        "station/bench/flow.py": "from station.simulation import names\n",
        "station/simulation/demo.py": "from station.bench import flow\n",
        "station/simulation/names.py": "", "station/simulation/roll.py": "",
        "station/polling/views.py": "from flask import request\n",
        "api/routes.py": "from station.db.models import Voter\nfrom station import db\nimport cv2\n",
        "station/db/models.py": "", "station/config.py": "",
        "matching/face.py": "from station.config import X\n",
        "drivers/camera.py": "from matching import face\n",
    })
    fenced = fence_violations(tmp_path)
    assert [line.partition(" (")[0] for line in fenced] == ["station.roll.x imports station.simulation.roll",
                                                           "station.roll.y imports station.simulation.names"]
    assert "(only station.cli, station.runtime, station.bench, station.simulation, tests may import" in fenced[0]
    layers = layer_violations(tmp_path)
    assert layers == [
        "api.routes imports cv2 (api/ never imports cv2)",
        "api.routes imports station.db (api/ never imports station.db)",
        "api.routes imports station.db.models (api/ never imports station.db)",
        "drivers.camera imports matching.face (drivers/ never imports matching)",
        "matching.face imports station.config (matching/ never imports station)",
        "station.polling.views imports flask (station/ never imports flask)",
    ]


def test_a_stray_file_in_the_station_root_is_reported(tmp_path):
    plant(tmp_path, {"station/runtime.py": "", "station/cnic.py": "", "station/models.py": "",
                     "station/roll/store.py": ""})
    assert stray_station_files(tmp_path) == ["models.py"]
