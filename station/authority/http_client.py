"""The ``http`` backend: HTTPS with mutual TLS to the authority's service.

The server's certificate must chain to ``authority.ca_cert`` and name the URL's host; the station presents
``authority.client_cert``/``client_key``. One connection per request (``Connection: close``), with one deadline for
the whole exchange (connect, handshake, send, every read): a slow or dribbling server costs at most
``authority.timeout_s``. Nothing of the answer is trusted here; the base class verifies its signature.
"""
from __future__ import annotations

import http.client
import io
import logging
import re
import socket
import ssl
import time
from urllib.parse import urlsplit

from station.authority import protocol
from station.authority.base import AuthorityClient
from station.authority.errors import (AuthorityCertificateUntrusted, AuthorityNotConfigured, AuthorityResponseInvalid,
                     AuthorityTimeout, AuthorityUnavailable)
from station.authority.settings import AuthoritySettings

log = logging.getLogger(__name__)
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)


def tls_context(ca_cert, client_cert, client_key) -> ssl.SSLContext:
    """The link's TLS client context from its three files; AuthorityNotConfigured naming them when one does not load
    (missing, damaged, a key that is not the certificate's)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate chain and the host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # A server closing without close_notify is normal; truncation is caught by Content-Length and the signature.
    context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    try:
        context.load_verify_locations(cafile=str(ca_cert))
        context.load_cert_chain(str(client_cert), str(client_key))
    except (ssl.SSLError, OSError) as exc:
        raise AuthorityNotConfigured(f"authority TLS files ({ca_cert}, {client_cert}, {client_key}): "
                                     f"{getattr(exc, 'reason', None) or exc}") from None
    return context


class _Canned:
    """A socket stand-in holding a complete answer, for http.client's parser."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def makefile(self, *args, **kwargs) -> io.BytesIO:
        return io.BytesIO(self._raw)


class HttpAuthorityClient(AuthorityClient):
    backend = "http"

    def __init__(self, settings: AuthoritySettings) -> None:
        super().__init__(settings)
        url = urlsplit(settings.url)
        if url.scheme != "https" or not url.hostname:
            raise AuthorityNotConfigured(f"authority.url must be an https:// URL, got {settings.url!r}")
        if not 0 < settings.timeout_s <= 60:
            raise AuthorityNotConfigured(f"authority.timeout_s must be between 0 and 60 seconds, got "
                                         f"{settings.timeout_s}")
        for name in ("ca_cert", "client_cert", "client_key", "authority_public_key"):
            path = getattr(settings, name)
            if path is None:
                raise AuthorityNotConfigured(f"authority.{name} is not set (the http backend needs it)")
            if not path.is_file():
                raise AuthorityNotConfigured(f"authority.{name}: no file {path}")
        self._host, self._port = url.hostname, url.port or 443
        self._prefix = url.path.rstrip("/")
        self._context = self._tls_context()
        self.authority_key()  # a bad key file is a configuration error now, not at the first voter

    def _tls_context(self) -> ssl.SSLContext:
        s = self.settings
        return tls_context(s.ca_cert, s.client_cert, s.client_key)

    def _exchange(self, path: str, body: bytes, deadline: float, *,
                  max_bytes: int = protocol.MAX_ANSWER_BYTES) -> protocol.RawAnswer:
        where = f"{self._host}:{self._port}"

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AuthorityTimeout(f"no answer from the ID authority at {where} within "
                                       f"{self.settings.timeout_s:g} s")
            return remaining

        head = (f"POST {self._prefix}{path} HTTP/1.1\r\nHost: {self._host}\r\nUser-Agent: voter-station\r\n"
                f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n").encode("ascii")
        try:
            sock = socket.create_connection((self._host, self._port), timeout=left())
        except (socket.timeout, TimeoutError):
            raise AuthorityTimeout(f"no connection to the ID authority at {where} within "
                                   f"{self.settings.timeout_s:g} s") from None
        except OSError as exc:
            raise AuthorityUnavailable(f"cannot reach the ID authority at {where}: {exc.strerror or exc}") from None
        try:
            try:
                sock.settimeout(left())
                tls = self._context.wrap_socket(sock, server_hostname=self._host)
            except ssl.SSLCertVerificationError as exc:
                raise AuthorityCertificateUntrusted(
                    f"the server at {where} presented a certificate this station does not trust "
                    f"({exc.verify_message or exc.reason}): refused") from None
            except (socket.timeout, TimeoutError):
                raise AuthorityTimeout(f"TLS handshake with the ID authority at {where} did not finish within "
                                       f"{self.settings.timeout_s:g} s") from None
            except (ssl.SSLError, OSError) as exc:
                raise AuthorityUnavailable(f"TLS handshake with the ID authority at {where} failed: "
                                           f"{getattr(exc, 'reason', None) or exc.strerror or exc}") from None
            with tls:
                raw = self._roundtrip(tls, head + body, left, where, max_bytes)
        finally:
            sock.close()
        return self._parse(raw, where, max_bytes)

    def _roundtrip(self, tls: ssl.SSLSocket, request: bytes, left, where: str, max_bytes: int) -> bytes:
        buffer = bytearray()
        try:
            tls.settimeout(left())
            tls.sendall(request)
            while True:
                tls.settimeout(left())
                chunk = tls.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                if len(buffer) > max_bytes + 16384:
                    raise AuthorityResponseInvalid(f"the answer from {where} is larger than {max_bytes} bytes: "
                                                   "refused")
                end = buffer.find(b"\r\n\r\n")
                if end >= 0:
                    length = _CONTENT_LENGTH.search(bytes(buffer[:end]))
                    if length and len(buffer) >= end + 4 + int(length.group(1)):
                        break
        except (socket.timeout, TimeoutError):
            raise AuthorityTimeout(f"no complete answer from the ID authority at {where} within "
                                   f"{self.settings.timeout_s:g} s") from None
        except ssl.SSLError as exc:
            # TLS 1.3: the server refusing our client certificate shows here, as an alert, not in the handshake.
            raise AuthorityUnavailable(f"the ID authority at {where} broke off the TLS session: "
                                       f"{exc.reason or exc}") from None
        except OSError as exc:
            if not buffer:
                raise AuthorityUnavailable(f"the ID authority at {where} closed the connection: "
                                           f"{exc.strerror or exc}") from None
        if not buffer:
            raise AuthorityUnavailable(f"the ID authority at {where} closed the connection without answering")
        return bytes(buffer)

    @staticmethod
    def _parse(raw: bytes, where: str, max_bytes: int) -> protocol.RawAnswer:
        response = http.client.HTTPResponse(_Canned(raw))  # type: ignore[arg-type]
        try:
            response.begin()
            body = response.read()
        except (http.client.HTTPException, ValueError) as exc:
            raise AuthorityResponseInvalid(f"not an HTTP answer from {where} ({exc.__class__.__name__}): "
                                           "refused") from None
        if len(body) > max_bytes:
            raise AuthorityResponseInvalid(f"the answer from {where} is too large: refused")
        signature = response.getheader(protocol.SIGNATURE_HEADER)
        return protocol.RawAnswer(status=response.status, body=body, signature=signature.strip() if signature else None,
                                  key_id=response.getheader(protocol.KEY_ID_HEADER))
