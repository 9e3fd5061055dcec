"""README.md and docs/*.md stand on their own: no link or path leads outside the repository, and every relative link
resolves to a file of the repository.

A link is a Markdown inline link or image `[text](target)`, a reference definition `[label]: target`, or an HTML
`href`/`src` attribute. Web addresses (http, https, mailto) are allowed; any other target must be relative, stay
inside the repository and name an existing file or folder (the `#fragment` is dropped). Anywhere in the text, code
included: no `../` that climbs above the repository from the document's folder (or names nothing in it), no
`file://` URL and no path of a development machine (`/work/...`). Paths of an installed station (`/etc/station`, `/var/lib/station`) describe the
target machine and are allowed."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.support.paths import REPO

DOCUMENTS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])

INLINE = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)["']""")
WEB = re.compile(r"^(?:https?|mailto):", re.IGNORECASE)
CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+)([\w./-]*)")
MACHINE = re.compile(r"(?<![\w.-])(/work(?:/|\b)|file://)")


def links(text: str) -> list[str]:
    return [m for pattern in (INLINE, REFERENCE, HTML) for m in pattern.findall(text)]


def link_problems(document: Path, text: str) -> list[str]:
    problems = []
    for target in links(text):
        if not target or target.startswith("#") or WEB.match(target):
            continue
        path = unquote(target.split("#", 1)[0])
        if "://" in target or target.startswith(("/", "~", "file:")):
            problems.append(f"{target}: not a relative link")
            continue
        resolved = (document.parent / path).resolve()
        if not resolved.is_relative_to(REPO):
            problems.append(f"{target}: leads outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file in the repository")
    return problems


def path_problems(document: Path, text: str) -> list[str]:
    problems = []
    depth = len(document.parent.relative_to(REPO).parts)  # how many ../ stay inside the repository
    for number, line in enumerate(text.splitlines(), 1):
        for climb, rest in CLIMB.findall(line):
            if climb.count("../") > depth:
                problems.append(f"line {number}: {climb!r} climbs out of the repository: {line.strip()[:100]}")
            elif rest and not (document.parent / climb / rest.rstrip(".")).exists():
                problems.append(f"line {number}: {climb + rest!r} names no file of the repository")
        for match in MACHINE.findall(line):
            problems.append(f"line {number}: {match!r} is a path outside the repository: {line.strip()[:100]}")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_links_and_paths_stay_in_the_repository(document):
    text = document.read_text(encoding="utf-8")
    assert link_problems(document, text) + path_problems(document, text) == []


def test_the_documents_are_found_and_link_to_each_other():
    names = {p.relative_to(REPO).as_posix() for p in DOCUMENTS}
    assert {"README.md", "docs/architecture.md", "docs/operator-guide.md", "docs/operator-guide.ur.md"} <= names
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/operator-guide.md" in links(readme) and "docs/operator-guide.ur.md" in links(readme)


def test_the_checker_sees_what_it_must_refuse(tmp_path):
    """The rules on planted text: a climb out, a development path, an absolute and a broken link are refused; a web
    address, an anchor, a link to a sibling document and a link up to the README are accepted."""
    docs = REPO / "docs"
    bad = ("[a](../../shared/ARCHITECTURE.md) [b](/etc/passwd) [c](missing.md)\n[d]: ../../outside.md\n"
           "see `../shared/datasets` and /work/shared/x and <img src=\"file:///tmp/x.png\">\n")
    # from docs/, one ../ stays inside the repository, but names nothing there
    assert path_problems(docs / "x.md", "faces from `../shared/datasets/deepface_faces`") == [
        "line 1: '../shared/datasets/deepface_faces' names no file of the repository"]
    problems = link_problems(docs / "x.md", bad) + path_problems(REPO / "README.md", bad)
    for expected in ("../../shared/ARCHITECTURE.md: leads outside", "/etc/passwd: not a relative link",
                     "missing.md: no such file", "../../outside.md: leads outside", "'../' climbs out",
                     "'/work/'", "file:///tmp/x.png: not a relative link"):
        assert any(expected in p for p in problems), (expected, problems)
    good = "[w](https://c2sp.org/signed-note) [s](#the-rooms) [t](threat-model.md#x) [r](../README.md) `/var/lib/station`"
    assert link_problems(docs / "x.md", good) + path_problems(docs / "x.md", good) == []
