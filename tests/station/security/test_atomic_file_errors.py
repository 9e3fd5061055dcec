"""station/security/files.py: a file written atomically goes to a hidden temporary file beside it first. When that
fails (a folder that refuses new files, such as /proc), the error names the file the user asked for, not the
temporary one ("No such file or directory: /proc/.version.f78fecc5.tmp"); and nothing is left behind."""
from __future__ import annotations

import os

import pytest

from station.security.files import write_atomically


def test_a_failed_write_names_the_file_asked_for_not_the_temporary_one():
    with pytest.raises(OSError) as caught:
        write_atomically("/proc/version", b"x")
    assert caught.value.filename == "/proc/version"
    assert ".tmp" not in str(caught.value)


def test_a_failed_rename_names_the_file_asked_for(tmp_path, monkeypatch):
    from station.security import files

    target = tmp_path / "out.bundle"
    target.mkdir()  # a folder where the file goes, appearing after the checks: the rename fails
    (target / "inside").write_text("kept")
    monkeypatch.setattr(files, "check_output", lambda path, **kw: path)
    with pytest.raises(OSError) as caught:
        write_atomically(target, b"x")
    assert caught.value.filename == str(target) and ".tmp" not in str(caught.value)
    assert os.listdir(tmp_path) == ["out.bundle"] and (target / "inside").read_text() == "kept"
