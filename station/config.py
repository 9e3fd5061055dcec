"""Configuration: defaults -> profile -> environment -> explicit overrides, validated once into frozen dataclasses.

Files live in the repository's ``config/`` folder (or ``STATION_CONFIG_DIR``): ``default.toml`` holds every key with
its default; a profile file (``simulated``, ``hardware``, ``test``) overrides some; the file named by
``STATION_SITE_CONFIG`` (the service's /etc/station/station.toml), if set, overrides keys; ``STATION_HOME/station.toml``, if
present, overrides keys for this one station (``station calibrate`` writes its thresholds there). Environment variables override
single keys as ``STATION_<SECTION>__<KEY>`` (``STATION_SERVER__PORT=9000``), their values parsed as TOML (bare words
are strings). ``STATION_HOME`` is the data directory (database, keys, logs); ``STATION_PROFILE`` picks the profile.

Every unknown key, missing key or value of the wrong type raises ConfigError naming the key.

A value is written once: every threshold has one key, and a decision that needs another value computes it from
those keys (the 1:N fingerprint threshold and face distance for a number of comparisons: ``threshold_for``,
``distance_for``).
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from matching.engine import ENGINES
from matching.thresholds import DistanceTail, ImpostorTail, distance_for, threshold_for
from station.errors import ConfigError
from station.security.files import write_atomically
from station.security.keystore import PROTECTIONS

FINGER_POSITIONS = (
    "right_thumb", "right_index", "right_middle", "right_ring", "right_little",
    "left_thumb", "left_index", "left_middle", "left_ring", "left_little",
)


@dataclass(frozen=True)
class StationSection:
    id: str
    name: str
    polling_station: str  # code of the polling station whose roll this station serves
    timezone: str


@dataclass(frozen=True)
class DatabaseSection:
    url: str  # "" = SQLite file station.db in STATION_HOME


@dataclass(frozen=True)
class ServerSection:
    host: str
    port: int
    threads: int
    max_body_bytes: int
    token_ttl_minutes: int
    session_idle_minutes: int  # a browser session or API token unused this long ends, and the token is revoked


@dataclass(frozen=True)
class DevicesSection:
    fingerprint: str  # backend names of drivers.registry
    camera: str
    card: str
    fingerprint_fixture: str  # data file configuring a simulated backend (relative to the repository)
    camera_fixture: str
    card_fixture: str
    card_reader: str  # PC/SC reader name; "" = the first reader with a card
    camera_source: str  # OpenCV camera: a device index ("0") or a stream URL
    fingerprint_registry: str  # mosip-sbi: TOML registry of trusted device serials and keys (relative to STATION_HOME)
    fingerprint_port: int  # mosip-sbi: device service port on 127.0.0.1; 0 = discover on 4501-4600
    fingerprint_libfprint_device: str  # libfprint: "" the first real image reader; an index, driver id or driver:device_id
    power: str  # the battery and mains: "upower" (D-Bus) or "sim"
    power_fixture: str
    simulation_api: bool  # expose /api/sim/* to steer simulated devices


@dataclass(frozen=True)
class CardSection:
    trusted_issuers: tuple[str, ...]  # PEM certificates (relative to STATION_HOME, or absolute) of card issuers
    test_issuer: bool  # create and trust a test issuing authority in STATION_HOME/issuer (demo and tests only)
    read_timeout_s: float
    refuse_expired: bool  # an expired CNIC is flagged; refused only when this is true


@dataclass(frozen=True)
class MatcherSection:
    """One fingerprint engine's calibrated thresholds (matching/thresholds.py), on that engine's own score scale."""

    match_threshold: float  # 1:1 at polling: score at or above which a print matches
    score_at_fmr_1e3: float  # impostor tail: the score 0.1% of calibration impostor comparisons reach
    score_per_decade: float  # impostor tail: score added per tenfold lower false match rate
    min_features: int  # capture gate: fewer local features (engine.features) than this is an unusable capture

    @property
    def tail(self) -> ImpostorTail:
        return ImpostorTail(self.score_at_fmr_1e3, self.score_per_decade)


@dataclass(frozen=True)
class FingerprintSection:
    matcher: str  # the engine every fingerprint decision uses (matching/engine.py ENGINES)
    fingers: tuple[str, ...]  # fingers enrolled and tried, in order
    attempts_per_finger: int
    min_quality: int  # NFIQ2 below this asks for a retry; 0 from NFIQ2 means "unknown" and is accepted
    ppi: int
    max_false_alarm_rate: float  # per voter, for each decision over many comparisons (1:N thresholds are set from it)
    leader_mcc_bozorth3: MatcherSection
    bozorth3: MatcherSection

    @property
    def engine(self) -> MatcherSection:
        """The thresholds of the configured engine."""
        return getattr(self, self.matcher)

    def threshold_for(self, comparisons: int) -> float:
        """The configured engine's threshold for a decision over ``comparisons`` impostor comparisons (at least the
        1:1 one): false alarms at most ``max_false_alarm_rate`` of decisions."""
        e = self.engine
        return threshold_for(e.tail, comparisons, self.max_false_alarm_rate, floor=e.match_threshold)


@dataclass(frozen=True)
class FaceSection:
    enabled: bool
    match_threshold: float  # 1:1: face distance at or below which a face matches (calibrated, not the library's 0.6)
    distance_at_fmr_1e3: float  # impostor tail: the distance 0.1% of calibration impostor pairs are at or below
    distance_per_decade: float  # impostor tail: distance removed per tenfold lower false match rate
    attempts: int
    min_face_px: int
    max_image_px: int  # captures are downscaled to this longest side before detection
    upsample: int
    fallback: str  # when HOG finds no face: "cnn" (a padded, contrast-evened HOG pass, then dlib's CNN), "hog", "none"
    fallback_cnn_px: int  # the CNN pass runs on the frame scaled to about this many pixels square

    @property
    def tail(self) -> DistanceTail:
        return DistanceTail(self.distance_at_fmr_1e3, self.distance_per_decade)

    def distance_for(self, comparisons: int, alarm_rate: float) -> float:
        """The face distance for a decision over ``comparisons`` impostor comparisons (one face against a roll of
        that many): false alarms at most ``alarm_rate`` (``fingerprint.max_false_alarm_rate``) of decisions, never
        looser than the 1:1 ``match_threshold``."""
        return distance_for(self.tail, comparisons, alarm_rate, cap=self.match_threshold)


@dataclass(frozen=True)
class FaceQualitySection:
    """Limits of matching.face_quality (the minimum face size is face.min_face_px)."""

    min_sharpness: float  # variance of the Laplacian of the face crop at 128 px high and fixed contrast
    min_brightness: float  # mean grey of the face crop, 0-255
    max_brightness: float
    max_clipped_fraction: float  # face pixels <= 10 or >= 245
    max_yaw_deg: float
    max_pitch_deg: float
    max_roll_deg: float


@dataclass(frozen=True)
class LivenessSection:
    """matching.liveness on a camera burst: rejects a still picture only (see that module for what it does not stop)."""

    enabled: bool
    burst_frames: int
    min_face_fraction: float
    min_blink_drop: float
    min_eye_change: float
    min_motion: float
    min_frame_change: float
    change_level: float


@dataclass(frozen=True)
class AuditSection:
    checkpoint_every: int  # a signed checkpoint file every N log entries (detects truncation of the database log)
    checkpoint_interval_minutes: int  # a Merkle-tree checkpoint every N minutes while the poll is open (0: none between)
    polling_hours: str  # "08:00-17:00" local time; activity outside is flagged in the auditor's report
    min_seconds_per_voter: float  # identify-to-ballot faster than this is flagged
    exception_rate_factor: float  # an operator's exception rate this many times the station's is flagged
    commission_certificate: str  # PEM of the commission's key that countersigns station certificates ("" = none)
    cross_check_last: int  # after a fingerprint match, compare the print with this many recent voters' (0 = off)


@dataclass(frozen=True)
class PolicySection:
    exception_reasons: tuple[str, ...]


@dataclass(frozen=True)
class EnrollmentSection:
    """Registration: capture gates and retries (MOSIP-style), and the 1:N duplicate search."""

    fingers: tuple[str, ...]  # fingers captured at registration, in this order
    face_required: bool
    finger_attempts: int  # captures per finger before the operator must record an exception; the best one is kept
    face_attempts: int
    min_finger_quality: int  # NFIQ2 (1-100) a finger capture must reach; 0 from NFIQ2 means "unknown" and fails
    shortlist: int  # per probe finger, candidates from the 1:N index re-scored by the engine
    voter_shortlist: int  # roll voters ranked first over all probe fingers: every probe finger against all theirs
    exception_reasons: tuple[str, ...]  # reasons a finger may be recorded as missing or unusable


@dataclass(frozen=True)
class RollSection:
    """Roll packages from the commission."""

    commission_key: str  # PEM public key (or certificate) that signs roll packages; relative to STATION_HOME or absolute


@dataclass(frozen=True)
class BackupSection:
    dir: str  # a second disk; "" = no automatic backups
    interval_minutes: int  # automatic backup every N minutes while serving; 0 = off
    at_poll_close: bool  # take a backup to ``dir`` when the poll closes
    keep: int  # automatic backups kept in ``dir`` (oldest removed first)


@dataclass(frozen=True)
class PowerSection:
    """The battery watch while serving (station/service/power.py)."""

    poll_seconds: float  # how often the power source is read; 0 = not watched
    low_percent: float  # below this charge, on battery: warn the officer, take a backup and a checkpoint


@dataclass(frozen=True)
class TlsSection:
    """HTTPS for the registrar UI on the booth's LAN (station.serving, station.tls)."""

    mode: str  # "auto": HTTPS unless server.host is loopback; "on": HTTPS always; "off": plain HTTP, loopback only
    hostnames: tuple[str, ...]  # more DNS names for the server certificate (hostname, FQDN, localhost always in)
    ips: tuple[str, ...]  # more IP addresses for it (127.0.0.1, ::1 and the addresses found at start always in)
    server_cert_days: int  # validity of a server certificate issued by the station CA


@dataclass(frozen=True)
class KeysSection:
    """How the station's private keys are kept at rest (station.security.keystore; docs/threat-model.md)."""

    protection: str  # plain (demo: unprotected files) | passphrase (unlocked when the poll opens) | systemd-creds


@dataclass(frozen=True)
class AuthoritySection:
    """The link to the national ID authority (docs/authority.md): decision support; backend "none" = no link."""

    backend: str  # none | http (station.authority.registry)
    url: str  # https://host:port of the authority's service
    timeout_s: float  # no complete answer by then = link down: the station decides offline and queues the check
    ca_cert: str  # PEM CA of the authority's TLS certificate (relative to STATION_HOME, or absolute)
    client_cert: str  # this station's TLS client certificate (mutual TLS) ...
    client_key: str  # ... and its key (mode 0600, in STATION_HOME/keys)
    authority_public_key: str  # the authority's Ed25519 answer-signing key (PEM public key or certificate)
    queue_flush_interval_s: float  # queued checks are sent this often while serving
    biometric_check: bool  # after a fingerprint match, also ask for the authority's 1:1 check
    roll_updates: bool  # the flusher also fetches and imports roll packages offered through the link


@dataclass(frozen=True)
class Config:
    profile: str
    home: Path
    station: StationSection
    database: DatabaseSection
    server: ServerSection
    devices: DevicesSection
    fingerprint: FingerprintSection
    face: FaceSection
    face_quality: FaceQualitySection
    liveness: LivenessSection
    card: CardSection
    audit: AuditSection
    policy: PolicySection
    enrollment: EnrollmentSection
    roll: RollSection
    backup: BackupSection
    power: PowerSection
    tls: TlsSection
    keys: KeysSection
    authority: AuthoritySection

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.home / 'station.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"


LOCAL_FILE = "station.toml"
_SECTIONS = {name: typ for name, typ in typing.get_type_hints(Config).items() if name not in ("profile", "home")}


def config_dir() -> Path:
    return Path(os.environ.get("STATION_CONFIG_DIR") or Path(__file__).resolve().parent.parent / "config")


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def available_profiles() -> list[str]:
    return sorted(p.stem for p in config_dir().glob("*.toml") if p.stem != "default")


def load_config(
    profile: str | None = None,
    *,
    home: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    env = os.environ if environ is None else environ
    profile = profile or env.get("STATION_PROFILE") or "simulated"
    data = _read_toml(config_dir() / "default.toml")
    known = _known_keys(data)
    profile_path = config_dir() / f"{profile}.toml"
    if profile == "default" or not profile_path.is_file():
        raise ConfigError(f"unknown profile {profile!r}; available: {', '.join(available_profiles())}")
    _merge(data, _read_toml(profile_path), origin=profile_path.name, known=known)
    site = env.get("STATION_SITE_CONFIG")  # the service's /etc/station/station.toml (station install)
    if site:
        _merge(data, _read_toml(Path(site)), origin=site, known=known)
    home_path = Path(home or env.get("STATION_HOME") or Path.cwd() / "station-home").expanduser().resolve()
    local = home_path / LOCAL_FILE
    if local.is_file():
        _merge(data, _read_toml(local), origin=str(local), known=known)
    _merge(data, _environment_overrides(env), origin="environment", known=known)
    if overrides:
        _merge(data, {k: dict(v) for k, v in overrides.items()}, origin="override", known=known)
    sections = {name: _build(typ, data.get(name, {}), name) for name, typ in _SECTIONS.items()}
    config = Config(profile=profile, home=home_path, **sections)
    _validate(config)
    return config


def _known_keys(defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, set[str] | None]]:
    """The keys a file may set: those of default.toml; for a key that is a sub-table, its keys (None for a plain
    key)."""
    return {section: {key: (set(value) if isinstance(value, Mapping) else None) for key, value in values.items()}
            for section, values in defaults.items()}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _environment_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in env.items():
        if not name.startswith("STATION_") or "__" not in name:
            continue
        section, _, key = name[len("STATION_"):].lower().partition("__")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out.setdefault(section, {})[key] = value
    return out


def _merge(base: dict, extra: Mapping, *, origin: str, known: Mapping) -> None:
    for section, values in extra.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{origin}: unknown section [{section}]")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        for key, value in values.items():
            if key not in known.get(section, {}):
                raise ConfigError(f"{origin}: unknown key {section}.{key}")
            sub_known = known[section][key]
            if sub_known is None:
                base.setdefault(section, {})[key] = value
                continue
            if not isinstance(value, Mapping):  # a sub-table ([fingerprint.bozorth3]) is set key by key
                raise ConfigError(f"{origin}: {section}.{key} must be a table")
            for sub, sub_value in value.items():
                if sub not in sub_known:
                    raise ConfigError(f"{origin}: unknown key {section}.{key}.{sub}")
                base.setdefault(section, {}).setdefault(key, {})[sub] = sub_value


def _build(cls: type, values: Mapping[str, Any], section: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        key = f"{section}.{field.name}"
        if field.name not in values:
            raise ConfigError(f"missing key {key}")
        kwargs[field.name] = _coerce(values[field.name], hints[field.name], key)
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ConfigError(f"unknown key {section}.{sorted(unknown)[0]}")
    return cls(**kwargs)


def _coerce(value: Any, typ: Any, key: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif typ is str:
        if isinstance(value, str):
            return value
    elif dataclasses.is_dataclass(typ):
        if isinstance(value, Mapping):
            return _build(typ, value, key)
        raise ConfigError(f"bad value for {key}: expected a table, got {value!r}")
    elif typing.get_origin(typ) is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"bad value for {key}: expected a list of strings, got {value!r}")
    name = getattr(typ, "__name__", str(typ))
    raise ConfigError(f"bad value for {key}: expected {name}, got {value!r}")


def _validate(config: Config) -> None:
    def require(ok: bool, key: str, why: str) -> None:
        if not ok:
            raise ConfigError(f"bad value for {key}: {why}")

    require(1 <= config.server.port <= 65535, "server.port", "must be 1-65535")
    require(config.server.threads >= 1, "server.threads", "must be >= 1")
    require(config.server.max_body_bytes >= 1024, "server.max_body_bytes", "must be >= 1024")
    require(config.server.token_ttl_minutes >= 1, "server.token_ttl_minutes", "must be >= 1")
    require(config.server.session_idle_minutes >= 1, "server.session_idle_minutes", "must be >= 1")
    bad = [f for f in config.fingerprint.fingers if f not in FINGER_POSITIONS]
    require(not bad and config.fingerprint.fingers, "fingerprint.fingers",
            f"unknown finger {bad[0] if bad else ''!r}; use {', '.join(FINGER_POSITIONS)}")
    require(config.fingerprint.attempts_per_finger >= 1, "fingerprint.attempts_per_finger", "must be >= 1")
    fp = config.fingerprint
    require(fp.matcher in ENGINES, "fingerprint.matcher", f"unknown matcher {fp.matcher!r}; use {', '.join(ENGINES)}")
    require(0 < fp.max_false_alarm_rate < 1, "fingerprint.max_false_alarm_rate", "must be between 0 and 1")
    for name in ENGINES:
        section = getattr(fp, name)
        require(section.match_threshold > 0, f"fingerprint.{name}.match_threshold", "must be > 0")
        require(section.score_per_decade > 0, f"fingerprint.{name}.score_per_decade", "must be > 0")
        require(section.min_features >= 0, f"fingerprint.{name}.min_features", "must be >= 0")
    require(0 <= config.fingerprint.min_quality <= 100, "fingerprint.min_quality", "must be 0-100")
    require(0 < config.face.match_threshold < 1, "face.match_threshold", "must be between 0 and 1")
    require(0 < config.face.distance_at_fmr_1e3 < 2, "face.distance_at_fmr_1e3", "must be between 0 and 2")
    require(config.face.distance_per_decade > 0, "face.distance_per_decade", "must be > 0")
    require(config.face.attempts >= 1, "face.attempts", "must be >= 1")
    require(config.face.upsample in (0, 1, 2), "face.upsample", "must be 0, 1 or 2")
    require(config.face.fallback in ("none", "hog", "cnn"), "face.fallback", "must be none, hog or cnn")
    require(config.face.fallback_cnn_px >= 80, "face.fallback_cnn_px", "must be >= 80")
    en = config.enrollment
    bad = [f for f in en.fingers if f not in FINGER_POSITIONS]
    require(not bad and len(set(en.fingers)) == len(en.fingers), "enrollment.fingers",
            f"unknown or repeated finger {bad[0] if bad else ''!r}; use {', '.join(FINGER_POSITIONS)}")
    require(en.finger_attempts >= 1 and en.face_attempts >= 1, "enrollment.finger_attempts",
            "attempts must be >= 1")
    require(0 <= en.min_finger_quality <= 100, "enrollment.min_finger_quality", "must be 0-100")
    require(en.shortlist >= 1, "enrollment.shortlist", "must be >= 1")
    require(en.voter_shortlist >= 0, "enrollment.voter_shortlist", "must be >= 0")
    require(config.backup.interval_minutes >= 0, "backup.interval_minutes", "must be >= 0 (0 = off)")
    require(config.backup.keep >= 1, "backup.keep", "must be >= 1")
    require(config.power.poll_seconds >= 0, "power.poll_seconds", "must be >= 0 (0 = not watched)")
    require(0 <= config.power.low_percent <= 100, "power.low_percent", "must be 0-100")
    fq = config.face_quality
    require(fq.min_sharpness >= 0, "face_quality.min_sharpness", "must be >= 0")
    require(0 <= fq.min_brightness < fq.max_brightness <= 255, "face_quality.min_brightness",
            "must be >= 0 and below face_quality.max_brightness (<= 255)")
    require(0 <= fq.max_clipped_fraction <= 1, "face_quality.max_clipped_fraction", "must be 0-1")
    for key in ("max_yaw_deg", "max_pitch_deg", "max_roll_deg"):
        require(0 < getattr(fq, key) <= 90, f"face_quality.{key}", "must be in (0, 90]")
    lv = config.liveness
    require(3 <= lv.burst_frames <= 100, "liveness.burst_frames", "must be 3-100")
    for key in ("min_face_fraction", "min_blink_drop", "min_eye_change", "min_motion", "min_frame_change"):
        require(0 <= getattr(lv, key) <= 1, f"liveness.{key}", "must be 0-1")
    require(0 < lv.change_level < 255, "liveness.change_level", "must be between 0 and 255")
    require(bool(config.policy.exception_reasons), "policy.exception_reasons", "must not be empty")
    require(config.audit.checkpoint_every >= 1, "audit.checkpoint_every", "must be >= 1")
    require(config.audit.checkpoint_interval_minutes >= 0, "audit.checkpoint_interval_minutes",
            "must be >= 0 (0 = only at poll opening and close)")
    require(_hours_ok(config.audit.polling_hours), "audit.polling_hours", "must look like 08:00-17:00")
    require(0 < config.card.read_timeout_s <= 60, "card.read_timeout_s", "must be between 0 and 60 seconds")
    require(config.tls.mode in ("auto", "on", "off"), "tls.mode", "must be auto, on or off")
    require(config.keys.protection in PROTECTIONS, "keys.protection", f"must be one of {', '.join(PROTECTIONS)}")
    au = config.authority
    require(0 < au.timeout_s <= 60, "authority.timeout_s", "must be between 0 and 60 seconds")
    require(au.queue_flush_interval_s >= 1, "authority.queue_flush_interval_s", "must be >= 1 second")
    require(au.backend == "none" or au.url.startswith("https://"), "authority.url",
            "must be an https:// URL when authority.backend is not none")
    require(1 <= config.tls.server_cert_days <= 825, "tls.server_cert_days", "must be 1-825")
    require(all(_ip_ok(ip) for ip in config.tls.ips), "tls.ips", "must be IP addresses")



def _ip_ok(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _hours_ok(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", text))


def write_local_overrides(home: Path, section: str, values: Mapping[str, Any]) -> Path:
    """Set keys of one section in STATION_HOME/station.toml (keeping the others), validated like any override."""
    import tomllib as _toml

    path = Path(home) / LOCAL_FILE
    data: dict[str, dict[str, Any]] = {}
    if path.is_file():
        data = _toml.loads(path.read_text())
    target = data.setdefault(section, {})
    for key, value in values.items():
        if isinstance(value, Mapping):
            target.setdefault(key, {}).update(value)
        else:
            target[key] = value
    lines = ["# This station's own settings (over the profile); written by `station calibrate` and by hand."]
    for sec, items in data.items():
        lines.append(f"\n[{sec}]")
        for key, value in items.items():
            lines.append(f"{key} = {_toml_value(value)}")
    write_atomically(path, ("\n".join(lines) + "\n").encode(), mode=0o600)
    return path


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)
