"""Serving the WSGI app: cheroot (the CherryPy project's production WSGI server, pure Python, TLS built in through the
standard ``ssl`` module) in this one process, so the station's devices, locks and login throttle stay in one place.

The rule: HTTPS whenever ``server.host`` is not a loopback address; plain HTTP only on 127.0.0.1, ::1 or localhost.
``tls.mode``: ``auto`` (that rule), ``on`` (HTTPS on loopback too), ``off`` (plain HTTP; refused on any other host).
The HTTPS certificate comes from the station CA (``station.tls``); it is re-issued at start when the machine's names or
LAN addresses are no longer all in it or it expires within 30 days.

Logs: under systemd (standard error is the journal stream systemd gave the service), to the journal with structured
fields (``station.service.journal``; ``journalctl -u station``); otherwise (the demo, a shell) Python's
RotatingFileHandler on STATION_HOME/logs/station.log (5 files of 5 MB, each 0600). No logrotate file: two rotators on
one file would fight (logrotate renames the file under the handler, which keeps writing to the renamed file).
"""
from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import signal
import threading
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Callable, Iterable

from station.security import tls
from station.security.files import make_private
from station.config import Config
from station.errors import StationError

log = logging.getLogger(__name__)

TLS_MODES = ("auto", "on", "off")
LOG_FILE = "station.log"
LOG_MAX_BYTES = 5_000_000
LOG_BACKUPS = 5
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"


@dataclass(frozen=True)
class Listener:
    """Where and how the server listens: the decision of ``prepare_listener``."""

    host: str
    port: int
    scheme: str  # "http" or "https"
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    certificate: tls.ServerCertificate | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; False for 0.0.0.0, ::, LAN addresses and any other name."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def prepare_listener(host: str, port: int, *, mode: str, keys_dir: Path, hostnames: Iterable[str] = (),
                     ips: Iterable[str] = (), cert_days: int = 397) -> Listener:
    """Decide HTTP or HTTPS for this host; for HTTPS make sure a fitting server certificate exists (issuing one from the
    station CA if needed). Plain HTTP on a non-loopback host raises StationError."""
    if mode not in TLS_MODES:
        raise StationError(f"bad value for tls.mode: {mode!r}; use one of {', '.join(TLS_MODES)}")
    loopback = is_loopback(host)
    if mode == "off" or (mode == "auto" and loopback):
        if not loopback:
            raise StationError(f"refusing to serve plain HTTP on {host}: passwords and voter data would cross the "
                               f"network unencrypted; set tls.mode = \"auto\" (HTTPS from the station CA) or serve "
                               f"on 127.0.0.1")
        return Listener(host, port, "http")
    names, addresses = list(hostnames), [*tls.local_addresses(), *ips]
    bare = host.strip("[]")
    if _is_ip(bare):
        if not ipaddress.ip_address(bare).is_unspecified:  # 0.0.0.0 and :: stand for every address found
            addresses.append(bare)
    else:
        names.append(bare)  # a DNS name given as server.host
    names = tls.station_hostnames(names)
    addresses = list(dict.fromkeys(addresses))
    cert = tls.issue_server_certificate(keys_dir, names, addresses, days=cert_days, force=False)
    return Listener(host, port, "https", cert.cert_file, cert.key_file, cert.ca_file, cert)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


def _cheroot_server_class():
    from cheroot import wsgi

    class StationWsgiServer(wsgi.Server):
        """cheroot's WSGI server with its error messages sent to logging instead of standard error."""

        def error_log(self, msg="", level=logging.INFO, traceback=False):  # noqa: D102 (cheroot's hook)
            log.log(level, "%s", msg, exc_info=traceback)

    return StationWsgiServer


def make_server(app, listener: Listener, *, threads: int, max_request_body_size: int):
    """A cheroot server for ``app`` on ``listener`` (not started: call ``prepare()`` then ``serve()``, or
    ``safe_start()``; ``stop()`` ends it). TLS 1.2 or later. A body over ``max_request_body_size`` gets cheroot's 413;
    a smaller one the app refuses unread is drained so the client reads the app's answer. TLS 1.2 offers only
    forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305: ``TLS12_CIPHERS``); TLS 1.3 as OpenSSL has
    it (AEAD only by design)."""
    import ssl

    server = _cheroot_server_class()((listener.host.strip("[]"), listener.port),
                                     drain_request_bodies(app, max_request_body_size), numthreads=threads,
                                     max=threads, server_name="station", shutdown_timeout=5)
    server.max_request_body_size = max_request_body_size
    if listener.scheme == "https":
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        adapter = BuiltinSSLAdapter(str(listener.cert_file), str(listener.key_file))
        adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
        adapter.context.set_ciphers(TLS12_CIPHERS)  # no CBC (AES-CBC-SHA256/384 and the SHA-1 ones), no RSA kx
        adapter.context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_COMPRESSION
        server.ssl_adapter = adapter
    return server


class _DrainedResponse:
    """The app's response; on close, the unread rest of the request body is read and dropped (up to ``limit``), so a
    client still sending a body the app refused (413/400 without reading it) gets the answer instead of a reset
    connection, as with a server that buffers whole requests."""

    def __init__(self, result, environ: dict, limit: int) -> None:
        self._result, self._environ, self._limit = result, environ, limit

    def __iter__(self):
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            _drain(self._environ, self._limit)


def _drain(environ: dict, limit: int) -> None:
    try:
        remaining = min(int(environ.get("CONTENT_LENGTH") or 0), limit)
    except ValueError:
        return
    stream = environ.get("wsgi.input")
    try:
        while remaining > 0 and stream is not None:
            chunk = stream.read(min(65536, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, ValueError) as exc:  # the client went away: nothing to answer
        log.debug("request body not drained: %s", exc)


def drain_request_bodies(app, limit: int):
    """WSGI middleware: see _DrainedResponse."""

    def wrapped(environ, start_response):
        return _DrainedResponse(app(environ, start_response), environ, limit)

    return wrapped


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose every file (the first and each one after a rollover) is 0600, whatever the umask."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def file_log_handler(logs_dir: Path) -> RotatingFileHandler:
    """The station's log file (rotated by size in-process; see the module's docstring)."""
    logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    make_private([logs_dir, *logs_dir.glob(f"{LOG_FILE}*")])  # files of an older release were 0644
    handler = PrivateRotatingFileHandler(logs_dir / LOG_FILE, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                         encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def add_logging(config: Config) -> logging.Handler:
    """The journal when the station runs as a systemd service, else the file log (see the module's docstring),
    added to the root logger at INFO; returns the handler."""
    from station.service import journal

    if journal.stderr_is_journal():
        handler: logging.Handler = journal.JournalHandler(config.station.id)
    else:
        handler = file_log_handler(config.home / "logs")
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def serve_app(config: Config, app, *, announce: Callable[[str], None] = log.info,
              listening: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` (``api.create_app(station)``) as ``config`` says until SIGTERM or Ctrl-C. ``announce`` gets the
    lines a person starting the server wants to see (the CLI passes click.echo); ``listening`` the URL it answers
    on, once the socket is bound (before the banner)."""
    cfg, tcfg = config.server, config.tls
    listener = prepare_listener(cfg.host, cfg.port, mode=tcfg.mode, keys_dir=config.keys_dir,
                                hostnames=tcfg.hostnames, ips=tcfg.ips, cert_days=tcfg.server_cert_days)
    add_logging(config)
    # The app answers an oversized body with 413 and a readable detail; the server's own limit is only a backstop.
    server = make_server(app, listener, threads=cfg.threads,
                         max_request_body_size=max(cfg.max_body_bytes * 8, 16_000_000))
    server.prepare()  # binds now: a port in use is reported before the banner
    try:
        listener = dataclasses.replace(listener, port=server.bind_addr[1])  # the real port when 0 was asked
        if listening is not None:
            listening(listener.url)
        announce(f"station {config.station.id} ({config.profile} profile) serving on {listener.url}")
        if listener.certificate is not None:
            ca = tls.ca_info(config.keys_dir)
            cert = listener.certificate
            announce(f"TLS certificate {'issued' if cert.issued_now else 'reused'} for "
                     f"{', '.join(cert.dns_names + cert.ips)}; station CA SHA-256 {ca.sha256} "
                     f"(other laptops: `station tls export-ca --out station-ca.crt`, see docs/service.md)")
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _exit_on_term)
        server.serve()
    except KeyboardInterrupt:
        log.info("interrupted")
    except SystemExit:
        log.info("stopping on SIGTERM")
    finally:
        server.stop()


def _exit_on_term(signum, frame) -> None:
    raise SystemExit(0)
