"""Backups of a station (docs/backups.md).

    archive.py   create (while serving), verify (with only the file and the passphrase)
    restore.py   restore into a station home, after every check of verify
    schedule.py  automatic backups to a second disk: at poll close and every few minutes (BackupScheduler)
    format.py    the container: framing, signature, the payload's encryption, the backup key
    snapshot.py  the database read in one snapshot, and the payload records
"""
