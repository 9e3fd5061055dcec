"""The simulated ID authority's two HTTP servers: the service (mutual TLS, the authority's API) and the admin port
(plain HTTP on localhost: modes, records, packages), each handing requests to the ``AuthoritySimulator``."""
from __future__ import annotations

import base64
import http.server
import json
import logging
import ssl
from typing import Any

from station.authority import protocol
from station.errors import InvalidInput, StationError

log = logging.getLogger("station.simulation.authority")


class ServiceServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # "down" closes the listener and "up" binds the same port again
    simulator: Any  # the station.simulation.authority.AuthoritySimulator that started this server

    def handle_error(self, request, client_address) -> None:
        log.exception("authority-sim: request from %s failed", client_address)

    def finish_request(self, request, client_address) -> None:  # in the connection's own thread
        context = self.simulator.tls_context()
        if context is None:  # hang_up
            return
        request.settimeout(10)
        try:
            tls = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("authority-sim: TLS handshake failed: %s", exc)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except OSError as exc:
            log.debug("authority-sim: connection error: %s", exc)
        finally:
            tls.close()


class ServiceHandler(http.server.BaseHTTPRequestHandler):
    server: ServiceServer
    server_version = "SimulatedIdAuthority/1.0"
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("authority-sim %s", format % args)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        headers = dict(headers)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if not 0 <= length <= protocol.MAX_REQUEST_BYTES:
            self._send(413, b'{"error":"request too large or without Content-Length"}', {})
            return
        body = self.rfile.read(length)
        kind = {path: k for k, path in protocol.PATHS.items()}.get(self.path.split("?")[0])
        if kind is None:
            self._send(404, b'{"error":"unknown path"}', {})
            return
        self._send(*self.server.simulator.answer(kind, body))

    def do_GET(self) -> None:  # noqa: N802
        self._send(405, b'{"error":"use POST"}', {})


class AdminServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    simulator: Any  # the station.simulation.authority.AuthoritySimulator that started this server

    def handle_error(self, request, client_address) -> None:
        log.exception("authority-sim admin: request from %s failed", client_address)


class AdminHandler(http.server.BaseHTTPRequestHandler):
    server: AdminServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("authority-sim admin %s", format % args)

    def _reply(self, status: int, data: dict) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?")[0] == "/admin/state":
            self._reply(200, self.server.simulator.state())
        else:
            self._reply(404, {"error": "unknown path"})

    def do_POST(self) -> None:  # noqa: N802
        sim = self.server.simulator
        try:
            length = int(self.headers.get("Content-Length", "0"))
            args = json.loads(self.rfile.read(length) or b"{}") if 0 <= length <= protocol.MAX_REQUEST_BYTES else None
            if not isinstance(args, dict):
                raise InvalidInput("the body must be a JSON object")
            path = self.path.split("?")[0]
            if path == "/admin/mode":
                sim.set_mode(str(args.get("mode")), error_code=args.get("error_code"))
            elif path == "/admin/latency":
                sim.set_latency(args.get("seconds"))
            elif path == "/admin/records":
                sim.set_records(args.get("records", {}), replace=bool(args.get("replace", False)),
                                default_status=args.get("default_status"),
                                synthetic_seed=args.get("synthetic_seed", ...))
            elif path == "/admin/reset":
                sim.reset()
            elif path == "/admin/packages":
                sim.publish_package(base64.b64decode(str(args.get("data", "")), validate=True))
            else:
                self._reply(404, {"error": "unknown path"})
                return
        except (StationError, ValueError, TypeError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, sim.state())
