"""Logging to the journal under systemd (station/service/journal.py): when standard error is the service's journal
stream, and what each entry carries. The datagrams are read back with a parser written here from systemd's
description of the native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL), not with the module's encoder."""
import logging
import os
import socket
import struct

import pytest

from station.service import journal, serving


def parse_entry(datagram: bytes) -> dict[str, str]:
    """KEY=VALUE\\n, or KEY\\n + 64-bit little-endian size + VALUE + \\n."""
    fields, at = {}, 0
    while at < len(datagram):
        line_end = datagram.index(b"\n", at)
        line = datagram[at:line_end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            at = line_end + 1
        else:
            key = line
            size = struct.unpack("<Q", datagram[line_end + 1:line_end + 9])[0]
            value = datagram[line_end + 9:line_end + 9 + size]
            assert datagram[line_end + 9 + size:line_end + 10 + size] == b"\n"
            at = line_end + 10 + size
        fields[key.decode()] = value.decode()
    return fields


@pytest.fixture
def journal_socket(tmp_path):
    path = str(tmp_path / "journal.socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_stderr_is_the_journal_only_when_journal_stream_names_it(tmp_path):
    with open(tmp_path / "a", "w") as a, open(tmp_path / "b", "w") as b:
        st = os.fstat(a.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert journal.stderr_is_journal(env, a)
        assert not journal.stderr_is_journal(env, b)  # inherited by a child whose stderr went elsewhere
        assert not journal.stderr_is_journal({}, a)
        assert not journal.stderr_is_journal({"JOURNAL_STREAM": "junk"}, a)


def test_an_entry_carries_the_message_priority_and_structured_fields(journal_socket):
    path, sock = journal_socket
    handler = journal.JournalHandler("AJK-PS-001", address=path)
    logger = logging.getLogger("station.test.journal")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("card reader gone\nsecond line", extra={"station_fields": {"event": "device_fault"}})
        logger.error("plain")
    finally:
        logger.removeHandler(handler)
        handler.close()
    first, second = parse_entry(sock.recv(65536)), parse_entry(sock.recv(65536))
    assert first["MESSAGE"] == "card reader gone\nsecond line"
    assert first["PRIORITY"] == "4" and second["PRIORITY"] == "3"  # syslog warning, error
    assert first["SYSLOG_IDENTIFIER"] == "station" and first["STATION_ID"] == "AJK-PS-001"
    assert first["STATION_LOGGER"] == "station.test.journal" and first["STATION_EVENT"] == "device_fault"
    assert first["CODE_FILE"].endswith("test_journal.py") and first["CODE_FUNC"].startswith("test_an_entry")


def test_the_server_logs_to_the_journal_under_systemd_and_to_its_file_in_a_shell(tmp_path, journal_socket,
                                                                                 monkeypatch):
    from station.config import load_config

    path, sock = journal_socket
    config = load_config("test", home=str(tmp_path / "home"))
    root = logging.getLogger()
    monkeypatch.setattr(journal, "JOURNAL_SOCKET", path)
    monkeypatch.setattr(root, "handlers", [])
    with open(tmp_path / "stderr", "w") as err:
        st = os.fstat(err.fileno())
        monkeypatch.setattr("sys.stderr", err)
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        handler = serving.add_logging(config)
        try:
            logging.getLogger("station.polling").info("poll opened")
        finally:
            root.removeHandler(handler)
            handler.close()
    entry = parse_entry(sock.recv(65536))
    assert entry["MESSAGE"] == "poll opened" and entry["PRIORITY"] == "6"
    assert not (tmp_path / "home" / "logs").exists()

    monkeypatch.delenv("JOURNAL_STREAM")
    handler = serving.add_logging(config)
    try:
        logging.getLogger("station.polling").info("poll closed")
    finally:
        root.removeHandler(handler)
        handler.close()
    assert "poll closed" in (tmp_path / "home" / "logs" / serving.LOG_FILE).read_text()
