"""Attack: another local user reads the station's files (the database of voters and tokens, the log, the keys'
certificates, the simulated scanner's ridge images named by CNIC). After `station init`, a synthetic roll and a served
request, every file under STATION_HOME is 0600 and every folder 0700, and no master image names a CNIC."""
import json
import os
import stat
import subprocess
import sys
import urllib.request
import zipfile

import numpy as np
import pytest

from drivers.fingerprint.simulated import MasterCache
from station.security.files import make_private, write_atomically
from tests.support.stations import PASSWORDS, ServerProcess


def _station(home, url, *argv):
    env = {**os.environ, "STATION_HOME": str(home), "STATION_DATABASE__URL": url, "STATION_PROFILE": "test"}
    r = subprocess.run([sys.executable, "-m", "station", *argv], env=env, capture_output=True, text=True, timeout=600,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _loose(root):
    """Every path under root whose mode lets anyone but the owner in."""
    out = []
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if mode & 0o077:
                out.append(f"{oct(mode)} {os.path.relpath(path, root)}")
    return out


@pytest.mark.slow
def test_every_station_file_is_private_after_init_synth_and_serve(tmp_path, make_database_url):
    home = tmp_path / "home"
    # SQLite keeps the database in the home, where its three files are checked; on PostgreSQL the server holds it
    on_postgres = bool(os.environ.get("STATION_TEST_DATABASE_URL"))
    url = make_database_url() if on_postgres else f"sqlite:///{home / 'station.db'}"
    database_files = set() if on_postgres else {"station.db", "station.db-wal", "station.db-shm"}
    _station(home, url, "init")
    _station(home, url, "roll", "synth", "--voters", "3", "--seed", "5", "--workers", "1")
    cnics = [voter["cnic"] for voter in json.loads(_station(home, url, "roll", "list", "--json"))]
    role, password = PASSWORDS["officer"]
    env = {**os.environ, "STATION_HOME": str(home), "STATION_DATABASE__URL": url, "STATION_PROFILE": "test"}
    subprocess.run([sys.executable, "-m", "station", "user", "add", "officer", "--role", role], input=password + "\n",
                   env=env, text=True, check=True, capture_output=True)
    server = ServerProcess(home, url)
    try:
        request = urllib.request.Request(f"{server.base}/api/auth/login", method="POST",
                                         data=json.dumps({"username": "officer", "password": password}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert json.load(r)["token"]
        names = {p.name for p in home.rglob("*")}
        assert database_files | {"station.log", "tls-ca.crt", "station.crt"} <= names
        assert _loose(home) == []
    finally:
        server.stop()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    masters = list((home / "sim" / "fingers").glob("*.npz"))
    assert masters
    digits = [c.replace("-", "") for c in cnics]
    for path in masters:
        with zipfile.ZipFile(path) as z:
            raw = b"".join(z.read(n) for n in z.namelist())
        meta = bytes(np.load(path)["meta"]).decode()
        assert not any(c.encode() in raw or d.encode() in raw for c, d in zip(cnics, digits)), path
        assert json.loads(meta)["subject"].startswith("hmac-sha256:")


def test_master_cache_files_are_private_and_name_no_subject(tmp_path):
    folder = tmp_path / "sim" / "fingers"
    subject = "roll-5/35202-1234567-1/right_thumb"
    cache = MasterCache(folder)
    first = cache.get(subject)
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 2 and ".subject-key" in files
    for path in [folder, *folder.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600)
    npz = next(folder.glob("*.npz"))
    assert b"35202" not in b"".join(zipfile.ZipFile(npz).read(n) for n in zipfile.ZipFile(npz).namelist())
    again = MasterCache(folder).get(subject)  # read back from disk by another cache (another process)
    assert again.subject == subject and np.array_equal(again.ridges, first.ridges)
    other = MasterCache(tmp_path / "elsewhere")  # another folder, another key: another file name
    assert other.path(subject).name != npz.name


def test_init_makes_the_files_of_an_older_release_private(tmp_path):
    loose = tmp_path / "station.log"
    loose.write_text("x")
    os.chmod(loose, 0o644)
    folder = tmp_path / "logs"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert make_private([loose, folder, tmp_path / "missing"]) == [loose, folder]
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.parametrize(("name", "error", "problem"), [
    ("nodir/x.csr", FileNotFoundError, "no such folder {tmp}/nodir"),
    ("a-file/x.csr", NotADirectoryError, "{tmp}/a-file is not a folder"),
    ("a-folder", IsADirectoryError, "it is a folder"),
])
def test_the_shared_writer_names_the_path_given_not_its_temporary_file(tmp_path, name, error, problem):
    """The error says which path cannot be written and why (the command line prints it: exit 2, a path not there);
    nothing is left behind."""
    (tmp_path / "a-file").write_bytes(b"")
    (tmp_path / "a-folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(error) as refused:
        write_atomically(tmp_path / name, b"data")
    assert str(refused.value.strerror) == f"cannot write {tmp_path / name}: {problem.format(tmp=tmp_path)}"
    assert sorted(tmp_path.rglob("*")) == before



def test_the_shared_writer_never_replaces_a_device_or_a_pipe(tmp_path):
    """An ``--out`` naming a device (/dev/null, /dev/stdout, a terminal) or a pipe was renamed over: as root that
    destroys the device, and the command said it had written. Refused now, naming the path; the node is untouched."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # the root user's test; /dev/null's numbers
    for node, kind in ((fifo, stat.S_ISFIFO), (device, stat.S_ISCHR)):
        with pytest.raises(OSError) as refused:
            write_atomically(node, b"data")
        assert refused.value.strerror == f"cannot write {node}: it is not a regular file (a device, pipe or socket)"
        assert kind(os.lstat(node).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "pipe"]


def test_the_shared_writer_writes_through_a_symbolic_link(tmp_path):
    """A link given as the output (an administrator's /etc/station/station.toml pointing elsewhere) stays a link: the
    file it points to gets the new content."""
    target = tmp_path / "real" / "out.json"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "out.json"
    link.symlink_to(target)
    write_atomically(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
