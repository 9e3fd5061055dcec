"""Key files of 0 bytes, left by a release older than ``files.create_private`` (it created the file, then wrote it:
a power cut in between left an empty key that every later ``station init`` took for one). Such a file holds no key.

``station init`` makes it again only when nothing can have been made with the key it was meant to hold; otherwise
the key existed once and was lost since, and a new one would orphan what the old one made, so init refuses, naming
the file and the way out (the station's backup), and changes nothing. What the database or the keys folder shows was
made with each key (``made_with``):

    template.key         templates and photos encrypted with it (roll, card references, registration captures,
                         ID-authority probes): they would no longer decrypt
    station-signing.key  match log entries (every append signs with it; they would no longer verify under a new key),
                         signed checkpoints of the log's tree (every station signs one at its server's first start),
                         their note files, the log's checkpoint files or the closing seal in the audit folder (they
                         would fail doctor for good, "not signed by this station's key"), or keys/station.crt issued
                         by someone else for it (the key signed the request)
    voter-ref.key        match log entries (every append loads it: voters are keyed with it), or a roll package
                         applied (it installs the commission's election key)
    package.key          a roll package applied (decrypted with it: the commission encrypts to its public half)
    tls-ca.key           nothing in the station's data: made again with a new station CA certificate

All or nothing: every empty key file is judged before any is removed. A removed file is then made by init's usual
creators (``create_private``: never half a key again)."""
from __future__ import annotations

import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session

from station.errors import KeyMissing
from station.security.files import fsync_dir

if TYPE_CHECKING:
    from station.config import Config


def empty_key_files(keys_dir: Path, names: Iterable[str]) -> list[Path]:
    """The files of ``names`` in ``keys_dir`` that are regular files of 0 bytes (a sealed key never is)."""
    empty = []
    for name in names:
        try:
            st = (Path(keys_dir) / name).lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            empty.append(Path(keys_dir) / name)
    return empty


def _count(session: Session, tables: set[str], model, *where) -> int:
    if model.__tablename__ not in tables:  # a table of a later migration: nothing in it yet
        return 0
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _signed_files(config: Config) -> str | None:
    """The audit folder's files signed with the station's log key, the first kind found (None: none): they outlive
    a database that was lost or made anew."""
    from station.audit import bundle

    def count(folder: Path, suffix: str) -> int:
        try:
            return sum(1 for path in folder.iterdir() if path.name.endswith(suffix))
        except (FileNotFoundError, NotADirectoryError):
            return 0

    if bundle.seal_path(config).is_file():
        return f"{bundle.seal_path(config)} (the closing seal) was signed with the key it held"
    for folder, suffix, what in ((bundle.tree_dir(config), ".note", "checkpoint note(s) of the log's tree"),
                                 (bundle.checkpoint_dir(config), ".json", "checkpoint file(s) of the log")):
        found = count(folder, suffix)
        if found:
            return f"{folder} holds {found} {what} signed with the key it held"
    return None


def made_with(session: Session | None, config: Config, name: str) -> str | None:
    """What this station holds that was made with the key ``name`` was meant to hold (None: nothing). ``session``:
    a read of the station's database, None when it has no schema yet (nothing was made in it); ``config``: the
    station's, for its keys and audit folders."""
    from station.audit import identity
    from station.db.models import (AppliedPackage, AuthorityQueueItem, BiometricReference, CardReference,
                                   EnrollmentCapture, LogCheckpoint, MatchLogEntry)
    from station.packages.crypto import PACKAGE_KEY_FILE
    from station.security.keys import TEMPLATE_KEY_FILE

    keys_dir = config.keys_dir
    tables = set(inspect(session.connection()).get_table_names()) if session is not None else set()
    entries = _count(session, tables, MatchLogEntry) if session is not None else 0
    packages = _count(session, tables, AppliedPackage) if session is not None else 0
    if name == TEMPLATE_KEY_FILE and session is not None:
        encrypted = (_count(session, tables, BiometricReference) + _count(session, tables, CardReference)
                     + _count(session, tables, EnrollmentCapture, or_(EnrollmentCapture.ciphertext.is_not(None),
                                                                       EnrollmentCapture.exception_photo.is_not(None)))
                     + _count(session, tables, AuthorityQueueItem, AuthorityQueueItem.probe_ciphertext.is_not(None)))
        if encrypted:
            return f"the database holds {encrypted} template(s) or photo(s) encrypted with the key it held"
    if name in (identity.SIGNING_KEY_FILE, identity.VOTER_KEY_FILE) and entries:
        return f"the match log holds {entries} entr{'y' if entries == 1 else 'ies'} made with the key it held"
    if name == identity.SIGNING_KEY_FILE:
        checkpoints = _count(session, tables, LogCheckpoint) if session is not None else 0
        if checkpoints:
            return (f"the database holds {checkpoints} signed checkpoint(s) of the log's tree made with the key it "
                    "held")
        signed = _signed_files(config)
        if signed:
            return signed
        try:
            cert = identity.read_certificate(Path(keys_dir) / identity.CERTIFICATE_FILE)
        except KeyMissing:
            cert = None  # no certificate, or a damaged one: init writes a new one with the new key
        if cert is not None and cert.issuer != cert.subject:
            return (f"keys/{identity.CERTIFICATE_FILE} is a certificate issued by {cert.issuer.rfc4514_string()!r} "
                    "for the key it held")
    if name == identity.VOTER_KEY_FILE and packages:
        return f"{packages} roll package(s) applied installed the commission's voter-reference key in it"
    if name == PACKAGE_KEY_FILE and packages:
        return f"{packages} roll package(s) were decrypted with the key it held (the commission encrypts to it)"
    return None


def clear_empty_keys(keys_dir: Path, names: Iterable[str], made: Callable[[str], str | None]) -> list[Path]:
    """Remove the empty key files of ``names`` so that init makes them again; the paths removed. KeyMissing (one
    line, nothing removed) when ``made(name)`` says something was made with the key one of them was meant to hold."""
    empty = empty_key_files(keys_dir, names)
    refused = [(path, why) for path in empty if (why := made(path.name))]
    if refused:
        (path, why), more = refused[0], [str(p) for p, _ in refused[1:]]
        also = f" (and {', '.join(more)} likewise)" if more else ""
        raise KeyMissing(f"{path} is empty (0 bytes), but {why}: a new key would orphan what the old one made; "
                         f"restore the key from this station's backup (docs/backups.md){also}; nothing was changed")
    for path in empty:
        path.unlink()
    if empty:
        fsync_dir(Path(keys_dir))
    return empty


def remade(path: Path) -> str:
    """The line ``station init`` says about an empty key file it made again."""
    from station.audit import identity
    from station.security import tls

    also = {identity.SIGNING_KEY_FILE: f", with a new self-signed keys/{identity.CERTIFICATE_FILE}",
            tls.CA_KEY_FILE: ", with a new station CA certificate: give the devices that trusted the old one the new "
                             "one (`station tls export-ca`)"}.get(Path(path).name, "")
    return f"{path} was empty (0 bytes) and nothing was made with the key it was meant to hold: made again{also}"
