"""Logging to systemd's journal when the station runs as a systemd service, the way a Debian administrator looks for
it (``journalctl -u station``); in a shell (the demo, a technician's terminal) the file log stays.

Under systemd, standard error is connected to the journal and ``$JOURNAL_STREAM`` names that stream
("DEVICE:INODE"); systemd.exec(5) says to compare it with standard error's own device and inode, which tells a
service's stderr from a shell's (the variable is inherited by children whose stderr was redirected elsewhere).

The handler speaks the journal's native protocol (systemd's "Native Journal Protocol": one datagram per entry on
/run/systemd/journal/socket, ``FIELD=value`` lines, a length-prefixed form for values holding a newline), so each entry
carries structured fields: PRIORITY, SYSLOG_IDENTIFIER, the logger (STATION_LOGGER), the code location, the station's
id (STATION_ID), and any ``extra={"station_fields": {...}}`` a caller gives (upper-cased, e.g. STATION_EVENT).
An entry too big for one datagram is truncated with a marker rather than lost (the journal's memfd route is not
worth it for log lines)."""
from __future__ import annotations

import logging
import os
import re
import socket
import struct
import sys

JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "station"
MAX_DATAGRAM = 200_000  # well under the socket's usual limit; longer messages are cut
_FIELD_NAME = re.compile(r"[^A-Z0-9_]")
# Python's levels to syslog priorities (journalctl -p): debug 7, info 6, warning 4, error 3, critical 2.
_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def stderr_is_journal(environ=os.environ, stderr=None) -> bool:
    """True when standard error is the journal stream systemd gave this service (systemd.exec(5), $JOURNAL_STREAM)."""
    value = environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        st = os.fstat((stderr or sys.stderr).fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def priority(levelno: int) -> int:
    for level, value in _PRIORITY:
        if levelno >= level:
            return value
    return 7


def field_name(name: str) -> str:
    """A journal field name: upper case letters, digits and underscores, not starting with an underscore (those
    are the journal's own trusted fields)."""
    return _FIELD_NAME.sub("_", name.upper()).lstrip("_") or "FIELD"


def encode_entry(fields: dict[str, str]) -> bytes:
    """One entry in the native protocol: ``NAME=value\\n``, or for a value with a newline ``NAME\\n`` + its length
    as 64-bit little-endian + the value + ``\\n``."""
    out = bytearray()
    for name, value in fields.items():
        data = str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """A logging handler that sends each record to the journal with structured fields (see the module)."""

    def __init__(self, station_id: str, *, address: str | None = None, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.station_id, self.address = station_id, address or JOURNAL_SOCKET
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def fields(self, record: logging.LogRecord) -> dict[str, str]:
        message = self.format(record)
        if len(message) > MAX_DATAGRAM:
            message = message[:MAX_DATAGRAM] + " [cut]"
        fields = {"MESSAGE": message, "PRIORITY": str(priority(record.levelno)), "SYSLOG_IDENTIFIER": IDENTIFIER,
                  "STATION_ID": self.station_id, "STATION_LOGGER": record.name, "CODE_FILE": record.pathname,
                  "CODE_LINE": str(record.lineno), "CODE_FUNC": record.funcName}
        for name, value in (getattr(record, "station_fields", None) or {}).items():
            fields.setdefault("STATION_" + field_name(name), str(value))
        return fields

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sock.sendto(encode_entry(self.fields(record)), self.address)
        except Exception:  # noqa: BLE001 - logging must never take the station down; logging's own report
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()
