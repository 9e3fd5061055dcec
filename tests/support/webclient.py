"""A tiny JSON-over-HTTP client for tests against a real server (standard library only)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token: str | None = None

    def request(self, method: str, path: str, body: object = None, *, raw: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, dict]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            payload = err.read()
            try:
                return err.code, json.loads(payload)
            except ValueError:
                return err.code, {"raw": payload.decode(errors="replace")}

    def post(self, path: str, body: object = None, **kw) -> tuple[int, dict]:
        return self.request("POST", path, body, **kw)

    def get(self, path: str) -> tuple[int, dict]:
        return self.request("GET", path)

    def login(self, username: str, password: str) -> None:
        status, body = self.post("/api/auth/login", {"username": username, "password": password})
        assert status == 200, body
        self.token = body["token"]
