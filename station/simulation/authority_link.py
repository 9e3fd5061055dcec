"""Demo set-up: link a station to the simulated authority. The simulator's CA, the station's TLS client certificate
and key, and the authority's public key are copied into STATION_HOME/keys/authority (mode 0700; files 0600), and
STATION_HOME/station.toml gets an ``[authority]`` section naming them (relative to STATION_HOME). A real station gets
the same four files from the commission instead. The simulator names its public key file
(``station.simulation.authority.PUBLIC_KEY_FILE``): the caller passes that name in."""
from __future__ import annotations

import os
from pathlib import Path

from station.authority.http_client import tls_context
from station.authority.protocol import load_public_key
from station.config import write_local_overrides
from station.errors import InvalidInput
from station.security.files import write_atomically

TLS_FILES = {"ca_cert": "ca.crt", "client_cert": "client.crt", "client_key": "client.key"}


def link_to_simulator(home: Path, state_dir: Path, url: str, *, public_key_file: str, timeout_s: float = 3.0) -> Path:
    """Copy the simulator's files from ``state_dir`` (``public_key_file``: the name of its answer-signing public key
    there) and write ``[authority]``; returns the settings file written."""
    if not url.startswith("https://"):
        raise InvalidInput(f"the authority URL must start with https://, got {url!r}")
    files = {**TLS_FILES, "authority_public_key": public_key_file}
    missing = [name for name in files.values() if not (state_dir / name).is_file()]
    if missing:
        raise InvalidInput(f"{state_dir} is not a simulator state directory (no {', '.join(missing)}): "
                           "start `station authority simulate --state-dir DIR` once first")
    # each file must load before anything is copied or configured (a damaged copy would only fail at the first check)
    tls_context(*(state_dir / TLS_FILES[key] for key in ("ca_cert", "client_cert", "client_key")))
    load_public_key((state_dir / public_key_file).read_bytes(), str(state_dir / public_key_file))
    target = Path(home) / "keys" / "authority"
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o700)
    os.chmod(target, 0o700)
    values: dict[str, object] = {"backend": "http", "url": url, "timeout_s": float(timeout_s)}
    for key, name in files.items():
        destination = target / name
        write_atomically(destination, (state_dir / name).read_bytes(), mode=0o600)  # replaces an earlier link's
        values[key] = str(destination.relative_to(home))
    return write_local_overrides(Path(home), "authority", values)
