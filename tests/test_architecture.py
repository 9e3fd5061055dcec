"""The import rules of ARCHITECTURE.md, checked from the source."""
import ast
from pathlib import Path

import pytest
from tests.support.paths import REPO

FORBIDDEN = {
    "matching": {"station", "api", "drivers", "flask"},
    "drivers": {"station", "api", "matching", "flask"},
    "station": {"api", "flask"},
    "api": {"drivers", "matching", "sqlalchemy", "nbis", "face_recognition", "cv2"},
}
# The one allowed upward arrow: the `station` command line is the process entry point that hands a built
# Station to the API's app factory and to the WSGI server (`station serve`).
ALLOWED = {"station/cli/main.py": {"api"}}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_respect_their_boundaries(package):
    offenders = []
    for path in (REPO / package).rglob("*.py"):
        bad = imported_top_levels(path) & FORBIDDEN[package] - ALLOWED.get(str(path.relative_to(REPO)), set())
        if bad:
            offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders


def test_the_checker_sees_imports():
    assert {"flask"} <= imported_top_levels(REPO / "api" / "__init__.py")
