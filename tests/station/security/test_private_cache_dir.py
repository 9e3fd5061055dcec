"""Caches of derived data live in the user's own folder, never in a fixed folder of the shared /tmp that another
local user could make first and fill (a benchmark loads a pickle from it; the server loads compiled catalogues)."""
import os
import stat

import pytest

from station.security.files import private_cache_dir


def test_the_folder_is_under_the_users_cache_and_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = private_cache_dir("bench-dedup")
    assert folder == tmp_path / "cache" / "voter-station" / "bench-dedup"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert private_cache_dir("bench-dedup") == folder  # made once, then found


def test_a_folder_others_may_write_in_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    planted = tmp_path / "voter-station" / "bench-dedup"
    planted.mkdir(parents=True)
    os.chmod(planted, 0o777)  # as another user's folder would be, made first in a shared place
    with pytest.raises(OSError, match="others may write"):
        private_cache_dir("bench-dedup")
