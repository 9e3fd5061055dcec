"""The link's settings, resolved from the station's ``[authority]`` configuration section (paths relative to
STATION_HOME become absolute). A configuration without that section means no link (backend ``none``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AuthoritySettings:
    backend: str  # a name of station.authority.registry.BACKENDS: "none" (no link) or "http"
    url: str  # https://host:port of the authority's service
    timeout_s: float  # a request with no complete answer by then counts as "link down"
    ca_cert: Path | None  # the CA that must have issued the authority's TLS certificate
    client_cert: Path | None  # this station's TLS client certificate (mutual TLS) ...
    client_key: Path | None  # ... and its key (mode 0600, in STATION_HOME/keys)
    authority_public_key: Path | None  # the authority's Ed25519 answer-signing key (PEM key or certificate)
    queue_flush_interval_s: float  # how often the background flusher sends queued checks
    biometric_check: bool  # after a fingerprint match, also ask the authority for a 1:1 check
    roll_updates: bool  # the background flusher also fetches and imports roll packages offered by the authority
    station_id: str

    @classmethod
    def from_config(cls, config) -> "AuthoritySettings":
        """From ``config.authority`` (station/config.py); a configuration without it has no link."""
        section = getattr(config, "authority", None)
        if section is None:
            return cls.none(config.station.id)

        def path(value: str) -> Path | None:
            if not value:
                return None
            p = Path(value).expanduser()
            return p if p.is_absolute() else Path(config.home) / p

        return cls(backend=section.backend, url=section.url, timeout_s=float(section.timeout_s),
                   ca_cert=path(section.ca_cert), client_cert=path(section.client_cert),
                   client_key=path(section.client_key), authority_public_key=path(section.authority_public_key),
                   queue_flush_interval_s=float(section.queue_flush_interval_s),
                   biometric_check=bool(section.biometric_check), roll_updates=bool(section.roll_updates),
                   station_id=config.station.id)

    @classmethod
    def none(cls, station_id: str = "") -> "AuthoritySettings":
        return cls(backend="none", url="", timeout_s=3.0, ca_cert=None, client_cert=None, client_key=None,
                   authority_public_key=None, queue_flush_interval_s=60.0, biometric_check=False,
                   roll_updates=False, station_id=station_id)
