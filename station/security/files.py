"""Writing files so that a power cut leaves either the old file or the whole new one, never half of either: a
temporary file beside the target, fsync, rename, fsync of the folder. Key files are created mode 0600, the same way
but linked into place instead of renamed (``create_private``: never over an existing file), so that a power cut
leaves either no key or the whole one. The temporary files are named ``.<name>.<random>.tmp``
(``remove_stale_temporaries`` clears those a killed writer left behind).

Every ``station`` command runs under umask 077 (``station/cli/main.py``), so whatever else the station writes (the
SQLite database and its -wal/-shm files, logs, bundles) is 0600 and its folders 0700; ``make_private`` brings files
of an older release into line."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import secrets
import time
from pathlib import Path
from typing import BinaryIO, Iterator

from station.errors import StationError


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NotARegularFile(StationError, OSError):
    """An output path naming a device, a pipe or a socket: the command line's "a path that cannot be used", exit 2."""


class UnwritableFolder(StationError, PermissionError):
    """A folder named on the command line (an output's, the home) that this user may not write in: the command line's
    "a path that cannot be used", exit 2 like a folder that is not there. A failure while writing (a disk full, an I/O
    error) is not one: the file system failed (exit 3)."""


def writable(folder: Path) -> bool:
    """Whether this process (its effective user) may create files in ``folder``."""
    return os.access(folder, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids)


def check_output(path, *, folder_ok: bool = False) -> Path:
    """``path`` when a file can be written there; else the error naming ``path`` (never a temporary file) and why:
    its folder is not there or not a folder (FileNotFoundError, NotADirectoryError), this user may not write in it
    (UnwritableFolder), it is a folder itself (IsADirectoryError, unless ``folder_ok``), or a device, pipe or socket
    (NotARegularFile: a file renamed over it would destroy /dev/null for everyone): the command line's "a path that
    cannot be used", exit 2. A symbolic link is followed: the path returned is the file it points to, which the
    writer replaces (the link stays). Commands call it on their output before they change anything
    (station/cli/common.py checks every --out)."""
    given = Path(path)
    path = given.resolve() if given.is_symlink() else given
    folder = path.parent
    if folder.is_dir():
        if path.is_dir() and not folder_ok:
            raise IsADirectoryError(errno.EISDIR, f"cannot write {given}: it is a folder")
        if path.exists() and not path.is_dir() and not path.is_file():
            raise NotARegularFile(errno.EINVAL, f"cannot write {given}: it is not a regular file (a device, pipe or "
                                                "socket)")
        into = path if path.is_dir() else folder  # a folder given (folder_ok) is written into
        if not writable(into):
            raise UnwritableFolder(errno.EACCES, f"cannot write {path}: no permission to write in folder {into}")
    elif folder.exists():
        raise NotADirectoryError(errno.ENOTDIR, f"cannot write {path}: {folder} is not a folder")
    else:
        raise FileNotFoundError(errno.ENOENT, f"cannot write {path}: no such folder {folder}")
    return path


def check_folder(path) -> Path:
    """``path`` when this user can write in that folder, or make it: else the error naming ``path`` (as
    ``check_output``): a file there or on the way (NotADirectoryError), no permission to write in it or in the
    folder that would hold it (UnwritableFolder)."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"cannot write in {path}: it is not a folder")
        if not writable(path):
            raise UnwritableFolder(errno.EACCES, f"cannot write in {path}: no permission")
        return path
    parent = next(p for p in path.absolute().parents if p.exists())
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"cannot make {path}: {parent} is not a folder")
    if not writable(parent):
        raise UnwritableFolder(errno.EACCES, f"cannot make {path}: no permission to write in folder {parent}")
    return path


@contextlib.contextmanager
def atomic_file(path: Path, *, mode: int = 0o600, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """An open file whose content replaces ``path`` when the block ends normally (fsync, rename, fsync of the
    folder); when the block raises, the temporary file is removed and ``path`` is untouched."""
    path = check_output(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        os.fchmod(fd, mode)  # exactly ``mode``, whatever the process umask
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _naming(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _naming(exc: OSError, path: Path) -> OSError:
    """The same error about ``path``, the file the caller named (the temporary file's name means nothing to them)."""
    return type(exc)(exc.errno, exc.strerror, str(path))


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` (created with ``mode``), all or nothing."""
    with atomic_file(path, mode=mode) as fh:
        fh.write(data)


def create_private(path: Path, data: bytes) -> None:
    """Create a new secret file, mode 0600; fails (FileExistsError) rather than overwrite one. All or nothing: the
    bytes go to a temporary file beside it (fsync), which is then hard-linked to ``path`` (a link, unlike a rename,
    never replaces an existing file) and removed, so a power cut or a kill leaves either no file at ``path`` or the
    whole one, never an empty key that a re-run of ``station init`` would keep."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the process umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # FileExistsError when ``path`` exists: it is left as it was
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")  # atomic_file's and create_private's temporary files
STALE_AFTER_S = 60.0  # a live writer's temporary file lives for milliseconds: one this old was left by a kill


def remove_stale_temporaries(folder: Path, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove from ``folder`` the temporary files of the writers above (``.<name>.<random>.tmp``) that a killed
    process left behind: those unchanged for ``older_than_s`` seconds (a younger one may be another process's write
    in progress); the paths removed. A folder that is not there has none."""
    removed = []
    try:
        candidates = list(Path(folder).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    now = time.time()
    for path in candidates:
        if not _TEMPORARY.fullmatch(path.name):
            continue
        try:
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < older_than_s:
                continue
            path.unlink()
        except FileNotFoundError:
            continue  # its writer finished (or another cleaner was first)
        removed.append(path)
    return removed


PRIVATE_UMASK = 0o077


def make_private(paths) -> list[Path]:
    """chmod each existing path to 0600 (a folder to 0700), unless it already allows less; the paths changed."""
    changed = []
    for path in map(Path, paths):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        target = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) & ~target:
            os.chmod(path, stat.S_IMODE(st.st_mode) & target)
            changed.append(path)
    return changed


def private_cache_dir(name: str) -> Path:
    """This user's folder for derived data a command can rebuild (benchmark caches, compiled translations):
    ``$XDG_CACHE_HOME/voter-station/<name>``, else ``~/.cache/voter-station/<name>``, made 0700. Never a fixed folder
    in the shared /tmp: another local user could make it first and plant what the command then loads (a pickle, a
    catalogue). OSError (one line) when the folder belongs to another user or others may write in it."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    folder = (Path(xdg) if xdg else Path.home() / ".cache") / "voter-station" / name
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.stat()
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
        raise OSError(f"{folder} belongs to another user or others may write in it: not used as a cache")
    return folder
