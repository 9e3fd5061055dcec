"""Demo set-up: link a station to the simulated authority. The simulator's CA, the station's TLS client certificate
and key, and the authority's public key are copied into STATION_HOME/keys/authority (mode 0700; files 0600), and
STATION_HOME/station.toml gets an ``[authority]`` section naming them (relative to STATION_HOME). A real station gets
the same four files from the commission instead."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from station.config import write_local_overrides
from station.errors import InvalidInput
from station.simulation.authority import PUBLIC_KEY_FILE

FILES = {"ca_cert": "ca.crt", "client_cert": "client.crt", "client_key": "client.key",
         "authority_public_key": PUBLIC_KEY_FILE}


def link_to_simulator(home: Path, state_dir: Path, url: str, *, timeout_s: float = 3.0) -> Path:
    if not url.startswith("https://"):
        raise InvalidInput(f"the authority URL must start with https://, got {url!r}")
    missing = [name for name in FILES.values() if not (state_dir / name).is_file()]
    if missing:
        raise InvalidInput(f"{state_dir} is not a simulator state directory (no {', '.join(missing)}): "
                           "start `station authority simulate --state-dir DIR` once first")
    target = Path(home) / "keys" / "authority"
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o700)
    os.chmod(target, 0o700)
    values: dict[str, object] = {"backend": "http", "url": url, "timeout_s": float(timeout_s)}
    for key, name in FILES.items():
        destination = target / name
        tmp = destination.with_suffix(destination.suffix + ".tmp")
        shutil.copyfile(state_dir / name, tmp)
        os.chmod(tmp, 0o600)
        tmp.replace(destination)
        values[key] = str(destination.relative_to(home))
    return write_local_overrides(Path(home), "authority", values)
