"""The key store as a fresh station process has it, for the tests of sealed keys."""
from __future__ import annotations

from typing import Callable

from station.security import keystore


def fresh_process(monkeypatch) -> Callable[[], None]:
    """No store unlocked and nobody to ask for a passphrase (the server's situation). The returned function
    restarts the "process": the stores forget their keys."""
    monkeypatch.setattr(keystore, "_stores", {})
    monkeypatch.setattr(keystore, "_source", None)
    return keystore._stores.clear
