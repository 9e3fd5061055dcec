"""``station install`` / ``station uninstall``: the station as a systemd service, on this machine (root ``/``) or
into a DESTDIR-style root (a directory that will become, or is used to check, a machine's file system).

Layout (paths relative to the root)::

    etc/station/station.toml           site settings (root:station 0640); STATION_SITE_CONFIG in the unit
    etc/systemd/system/station.service the unit (lib/systemd/system/ in the Debian package)
    usr/lib/sysusers.d/station.conf    the system user `station` (systemd-sysusers syntax)
    usr/lib/tmpfiles.d/station.conf    var/lib/station (0700 station), its logs/, the mode of station.toml
    var/lib/station/                   STATION_HOME: database, keys, logs, audit; kept by uninstall unless --purge
    etc/systemd/system/station.service.d/keys.conf
                                       only when the keys are sealed with systemd-creds (keys.protection):
                                       LoadCredentialEncrypted= of the key store's credential

The two .conf files are the one description of the user and the directories: `station install` applies them with
systemd-sysusers/systemd-tmpfiles (``--root DIR`` under a root; Python does the same when those tools are absent), the
Debian package's postinst applies the very same files, and systemd applies them again at every boot.

On ``/`` the user is created with ``useradd --system`` (reusing the uid/gid that still owns /var/lib/station after an
uninstall, so kept data stays readable). Under ``--root DIR`` useradd is never called: the user's entries are written
into DIR/etc/passwd, group, shadow and gshadow by ``systemd-sysusers --root DIR`` when running as root; as another
user only the sysusers.d file is written (a machine booted from that root creates the user at boot) and nothing is
chowned.
"""
from __future__ import annotations

import logging
import os
import grp
import pwd
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from station.errors import StationError
from station.security import keystore
from station.security.files import write_atomically

log = logging.getLogger(__name__)

USER = "station"
UNIT_NAME = "station.service"
ETC_DIR = "etc/station"
SITE_CONFIG = "etc/station/station.toml"
DATA_DIR = "var/lib/station"
ADMIN_UNIT = "etc/systemd/system/station.service"
PACKAGE_UNIT = "lib/systemd/system/station.service"
KEYS_DROPIN = "etc/systemd/system/station.service.d/keys.conf"
LIBFPRINT_DROPIN = "etc/systemd/system/station.service.d/libfprint.conf"
SYSUSERS = "usr/lib/sysusers.d/station.conf"
TMPFILES = "usr/lib/tmpfiles.d/station.conf"
PACKAGE_EXEC = "/opt/station/venv/bin/station"
PROTECTED_HOMES = ("/home", "/root", "/run/user")  # hidden from the service by ProtectHome=yes
USER_COMMENT = "Voter verification station"


class InstallError(StationError):
    pass


@dataclass(frozen=True)
class ServiceSettings:
    """What the unit and the site configuration say."""

    exec_path: str  # absolute path of the `station` script the unit runs
    profile: str = "hardware"
    host: str = "127.0.0.1"
    port: int = 8080
    station_id: str = ""
    polling_station: str = ""
    writable_paths: tuple[str, ...] = ()  # more ReadWritePaths (a backup disk named in backup.dir)
    libfprint: bool = False  # the fingerprint reader is a USB reader reached through libfprint (devices.fingerprint)


@dataclass(frozen=True)
class InstallReport:
    root: str
    actions: tuple[str, ...]  # what was done (or, with dry_run, would be done), in order
    notes: tuple[str, ...]  # what the person should know or do next

    def to_dict(self) -> dict:
        return {"root": self.root, "actions": list(self.actions), "notes": list(self.notes)}


# --- the files ---------------------------------------------------------------------------------------------------

def render_unit(settings: ServiceSettings) -> str:
    """The systemd unit; docs/service.md explains each hardening option."""
    rw = " ".join(["/" + DATA_DIR, *settings.writable_paths])
    return f"""# station.service: written by `station install` (or shipped by the station package). See docs/service.md.
[Unit]
Description=Voter verification station (API and registrar UI)
Wants=pcscd.socket network-online.target
After=pcscd.socket network-online.target postgresql.service

[Service]
Type=simple
User={USER}
Group={USER}
# /dev/video* is root:video 0660 on Debian: the camera needs the group.
SupplementaryGroups=video
Environment=STATION_HOME=/{DATA_DIR} STATION_PROFILE={settings.profile} STATION_SITE_CONFIG=/{SITE_CONFIG}
ExecStart={settings.exec_path} serve
Restart=on-failure
RestartSec=5s
TimeoutStopSec=30s
UMask=0077
# STATION_HOME; systemd makes it the service user's (the tmpfiles.d entry below does the same for manual starts)
StateDirectory=station
StateDirectoryMode=0700

# Hardening
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths={rw}
# Not PrivateDevices=yes: it would hide the camera (/dev/video*). The device cgroup allows the standard pseudo
# devices plus video4linux only. Card readers need no device node here: pcscd owns the USB reader and the station
# talks to it through /run/pcscd/pcscd.comm (AF_UNIX); the fingerprint scanner's SBI service is on 127.0.0.1.
PrivateDevices=no
DevicePolicy=closed
DeviceAllow=char-video4linux rw
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
CapabilityBoundingSet=
AmbientCapabilities=
LockPersonality=yes
# Checked with packaging/check-mdwe.py (systemd's filter on OpenCV, dlib, onnxruntime, faiss and the whole flow).
MemoryDenyWriteExecute=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
KeyringMode=private
RemoveIPC=yes
PrivateMounts=yes
ProtectProc=invisible
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""


def render_keys_dropin() -> str:
    """The unit's drop-in for keys sealed with systemd-creds: PID 1 decrypts the key store's credential (with the TPM2
    or the host key, which the service cannot read) and hands it to the service in $CREDENTIALS_DIRECTORY."""
    credential = f"/{DATA_DIR}/keys/{keystore.CREDENTIAL_FILE}"
    return ("# station.service.d/keys.conf: written by `station keys protect --mode systemd-creds` (and `station "
            "install`).\n# See docs/service.md, \"Keys at rest\".\n[Service]\n"
            f"LoadCredentialEncrypted={keystore.CREDENTIAL_NAME}:{credential}\n")


def render_libfprint_dropin() -> str:
    """The unit's drop-in for a USB fingerprint reader through libfprint: libusb opens the reader's device node
    (/dev/bus/usb/...) and watches hotplug on a netlink socket; both options add to the unit's lists."""
    return ("# station.service.d/libfprint.conf: written by `station install --libfprint`. See "
            "docs/fingerprint-readers.md.\n[Service]\nDeviceAllow=char-usb_device rw\n"
            "RestrictAddressFamilies=AF_NETLINK\n")


def keys_sealed_with_credential(root: Path) -> bool:
    """True when the service's keys under ``root`` are sealed with systemd-creds (their store says so; False when
    it cannot be read)."""
    try:
        return keystore.KeyStore(Path(root) / DATA_DIR / "keys").protection == keystore.SYSTEMD_CREDS
    except (OSError, StationError):
        return False


def render_sysusers() -> str:
    return (f"# The station's system user (systemd-sysusers). Its home is the data directory; it cannot log in.\n"
            f'u {USER} - "{USER_COMMENT}" /{DATA_DIR} /usr/sbin/nologin\n')


def render_tmpfiles() -> str:
    return ("# The station's directories and the mode of its site settings (systemd-tmpfiles; applied at boot too).\n"
            f"d /{DATA_DIR} 0700 {USER} {USER} -\n"
            f"d /{DATA_DIR}/logs 0700 {USER} {USER} -\n"
            f"d /{ETC_DIR} 0750 root {USER} -\n"
            f"z /{SITE_CONFIG} 0640 root {USER} -\n")


def render_site_config(settings: ServiceSettings) -> str:
    def line(key: str, value: str) -> str:
        return f'{key} = "{value}"' if value else f'# {key} = "..."'

    return f"""# /etc/station/station.toml: this station's site settings, read by station.service
# (Environment=STATION_SITE_CONFIG=/etc/station/station.toml), after the profile and before
# /var/lib/station/station.toml (which `station calibrate` writes). Any key of config/default.toml may be set here.
#
# Profile: {settings.profile} (Environment=STATION_PROFILE={settings.profile} in station.service; change it there with
# `systemctl edit station` or `station install --profile NAME`). "hardware" = real card reader, scanner and camera.

[station]
{line("id", settings.station_id)}
{line("polling_station", settings.polling_station)}

[server]
host = "{settings.host}"      # 127.0.0.1: this laptop only (plain HTTP); a LAN address or 0.0.0.0: HTTPS (tls.mode)
port = {settings.port}
{_devices_section(settings)}"""


def _devices_section(settings: ServiceSettings) -> str:
    if not settings.libfprint:
        return ""
    return ('\n[devices]\nfingerprint = "libfprint"   # a USB reader through libfprint '
            '(station.service.d/libfprint.conf lets the service reach it)\n')


# --- doing it ------------------------------------------------------------------------------------------------------

Runner = Callable[[Sequence[str]], None]


def _run(argv: Sequence[str]) -> None:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise InstallError(f"{argv[0]}: command not found") from None
    if done.returncode:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise InstallError(f"`{' '.join(argv)}` failed ({done.returncode}): {detail[-1] if detail else ''}")


@dataclass
class _Plan:
    """Performs steps (unless dry_run) and records them."""

    root: Path
    dry_run: bool
    run: Runner
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def show(self, path: Path) -> str:
        return "/" + str(path.relative_to(self.root)) if self.root != Path("/") else str(path)

    def write(self, rel: str, text: str, mode: int) -> None:
        path = self.path(rel)
        self.actions.append(f"write {self.show(path)} ({oct(mode)})")
        if self.dry_run:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text.encode("utf-8"), mode=mode)

    def command(self, argv: Sequence[str]) -> None:
        self.actions.append("run " + " ".join(argv))
        if not self.dry_run:
            self.run(argv)

    def remove(self, rel: str) -> None:
        path = self.path(rel)
        if not (path.exists() or path.is_symlink()):
            return
        self.actions.append(f"remove {self.show(path)}")
        if self.dry_run:
            return
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _is_root() -> bool:
    return os.geteuid() == 0


def _station_script() -> str:
    """The `station` script of the running installation (the venv's bin/)."""
    candidate = Path(sys.executable).with_name("station")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("station")
    if found:
        return str(Path(found).absolute())
    raise InstallError("cannot find the `station` script next to this Python; give --exec PATH")


def _interpreter_of(script: Path) -> Path | None:
    try:
        first = script.read_bytes()[:512].split(b"\n", 1)[0]
    except OSError:
        return None
    if first.startswith(b"#!"):
        return Path(first[2:].decode(errors="replace").strip().split()[0])
    return None


def hidden_by_protect_home(exec_path: str) -> list[str]:
    """Paths the unit needs (the script, its interpreter, both with symlinks resolved) that ProtectHome=yes hides."""
    paths = [Path(exec_path)]
    interpreter = _interpreter_of(Path(exec_path))
    if interpreter is not None:
        paths.append(interpreter)
    out = []
    for p in paths:
        for candidate in (str(p), str(p.resolve())):
            if any(candidate == h or candidate.startswith(h + "/") for h in PROTECTED_HOMES) and candidate not in out:
                out.append(candidate)
    return out


def _package_owns(root: Path) -> bool:
    return (root / "var/lib/dpkg/info/station.list").exists()


def _lookup_ids(root: Path) -> tuple[int, int] | None:
    """uid and gid of the station user in this root's passwd/group files (not the host's unless root is /)."""
    if root == Path("/"):
        try:
            entry = pwd.getpwnam(USER)
            return entry.pw_uid, grp.getgrnam(USER).gr_gid
        except KeyError:
            return None
    uid = gid = None
    for name, rel in (("uid", "etc/passwd"), ("gid", "etc/group")):
        try:
            lines = (root / rel).read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            parts = line.split(":")
            if parts[0] == USER and len(parts) > 2 and parts[2].isdigit():
                if name == "uid":
                    uid = int(parts[2])
                else:
                    gid = int(parts[2])
    return (uid, gid) if uid is not None and gid is not None else None


def _orphan_ids(data_dir: Path) -> tuple[int, int] | None:
    """uid/gid still owning a kept data directory whose user was removed (reused so the data stays readable)."""
    try:
        st = data_dir.stat()
    except OSError:
        return None
    if st.st_uid == 0:
        return None
    try:
        pwd.getpwuid(st.st_uid)
        return None  # belongs to someone: do not reuse
    except KeyError:
        return st.st_uid, st.st_gid


def _create_user(plan: _Plan) -> None:
    if plan.root == Path("/"):
        if _lookup_ids(plan.root) is not None:
            plan.actions.append(f"user {USER} exists")
            return
        argv = ["useradd", "--system", "--home-dir", f"/{DATA_DIR}", "--no-create-home", "--shell",
                "/usr/sbin/nologin", "--comment", USER_COMMENT]
        reuse = _orphan_ids(plan.path(DATA_DIR))
        if reuse:
            try:
                grp.getgrgid(reuse[1])
                taken = True
            except KeyError:
                taken = False
            if not taken:
                plan.command(["groupadd", "--system", "--gid", str(reuse[1]), USER])
                argv += ["--uid", str(reuse[0]), "--gid", str(reuse[1])]
            else:
                argv += ["--uid", str(reuse[0]), "--user-group"]
            plan.notes.append(f"/{DATA_DIR} is kept from an earlier install: the user gets its uid {reuse[0]} back")
        else:
            argv.append("--user-group")
        plan.command([*argv, USER])
        return
    if not _is_root():
        plan.notes.append(f"not root: the user is only declared in /{SYSUSERS} (systemd-sysusers creates it when a "
                          f"machine boots from this root); nothing was chowned")
        return
    if shutil.which("systemd-sysusers") is None:
        plan.notes.append(f"systemd-sysusers not found: the user is only declared in /{SYSUSERS}")
        return
    if not plan.dry_run:
        plan.path("etc").mkdir(parents=True, exist_ok=True)
    plan.command(["systemd-sysusers", "--root", str(plan.root), str(plan.path(SYSUSERS))])


def _apply_tmpfiles(plan: _Plan) -> None:
    """Create the directories and set owners/modes as usr/lib/tmpfiles.d/station.conf says."""
    can_chown = _is_root()
    tool = shutil.which("systemd-tmpfiles")
    if tool and can_chown and (plan.root == Path("/") or _lookup_ids(plan.root) is not None or plan.dry_run):
        argv = ["systemd-tmpfiles", "--create"]
        if plan.root != Path("/"):
            argv += ["--root", str(plan.root)]
        plan.command([*argv, str(plan.path(TMPFILES))])
        return
    # Python does what the tmpfiles lines say (no chown unless root and the user exists in this root).
    ids = _lookup_ids(plan.root) if can_chown else None
    for rel, mode, owner in ((DATA_DIR, 0o700, "station"), (f"{DATA_DIR}/logs", 0o700, "station"),
                             (ETC_DIR, 0o750, "group"), (SITE_CONFIG, 0o640, "group")):
        path = plan.path(rel)
        plan.actions.append(f"mode {oct(mode)} {plan.show(path)}" + (f" owner {owner}" if ids else ""))
        if plan.dry_run:
            continue
        if rel != SITE_CONFIG:
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        if ids:
            os.chown(path, ids[0] if owner == "station" else 0, ids[1])


def install_service(root: Path | str, settings: ServiceSettings, *, package: bool = False, dry_run: bool = False,
                    initialise: bool = True, enable: bool = False, run: Runner = _run) -> InstallReport:
    """Lay out the service under ``root`` (see the module docstring). ``package=True`` lays only the files the Debian
    package ships (unit under lib/, no user, no data directory: the postinst applies the same .conf files)."""
    root = Path(root).absolute()
    real = root == Path("/")
    if real and not _is_root():
        raise InstallError("installing on this machine (--root /) needs root; use --root DIR for a staging root")
    if _package_owns(root) and not package:
        raise InstallError("the station Debian package is installed in this root: it owns this layout "
                           "(use apt to upgrade or remove it)")
    if not Path(settings.exec_path).is_absolute():
        raise InstallError(f"the unit needs an absolute path to `station`, not {settings.exec_path!r}")
    hidden = [] if package else hidden_by_protect_home(settings.exec_path)
    if hidden and real:
        raise InstallError(f"the service could not start: ProtectHome=yes hides {', '.join(hidden)}; install the code "
                           f"outside /home and /root (the Debian package uses /opt/station)")
    plan = _Plan(root, dry_run, run)
    if hidden:
        plan.notes.append(f"warning: ProtectHome=yes would hide {', '.join(hidden)} on a real machine")
    if not real and not package and not Path(settings.exec_path).exists():
        plan.notes.append(f"warning: {settings.exec_path} does not exist on this machine")
    plan.write(PACKAGE_UNIT if package else ADMIN_UNIT, render_unit(settings), 0o644)
    if not package:
        _key_credential(plan, keys_sealed_with_credential(root))
        if settings.libfprint:
            plan.write(LIBFPRINT_DROPIN, render_libfprint_dropin(), 0o644)
        else:
            plan.remove(LIBFPRINT_DROPIN)
    plan.write(SYSUSERS, render_sysusers(), 0o644)
    plan.write(TMPFILES, render_tmpfiles(), 0o644)
    site = plan.path(SITE_CONFIG)
    text = render_site_config(settings)
    if site.exists() and site.read_text(encoding="utf-8", errors="replace") != text:
        plan.write(SITE_CONFIG + ".new", text, 0o640)
        plan.notes.append(f"kept your {plan.show(site)}; the settings of this install are in "
                          f"{plan.show(site)}.new")
    else:
        plan.write(SITE_CONFIG, text, 0o640)
    if package:
        return InstallReport(str(root), tuple(plan.actions), tuple(plan.notes))
    _create_user(plan)
    _apply_tmpfiles(plan)
    if real:
        systemd = Path("/run/systemd/system").is_dir()
        if systemd:
            plan.command(["systemctl", "daemon-reload"])
        if initialise:
            plan.command(["runuser", "-u", USER, "--", "env", f"STATION_HOME=/{DATA_DIR}",
                          f"STATION_PROFILE={settings.profile}", f"STATION_SITE_CONFIG=/{SITE_CONFIG}",
                          settings.exec_path, "init"])
        if enable and systemd:
            plan.command(["systemctl", "enable", "--now", UNIT_NAME])
        elif not enable:
            plan.notes.append(f"start it with: systemctl enable --now {UNIT_NAME}")
        if not systemd:
            plan.notes.append("systemd is not running here: the unit is written but not loaded")
    return InstallReport(str(root), tuple(plan.actions), tuple(plan.notes))


def _key_credential(plan: _Plan, sealed: bool) -> None:
    if sealed:
        plan.write(KEYS_DROPIN, render_keys_dropin(), 0o644)
    else:
        plan.remove(KEYS_DROPIN)


def set_key_credential(root: Path | str, sealed: bool, *, dry_run: bool = False, run: Runner = _run) -> InstallReport:
    """Write (``sealed``) or remove the unit's keys drop-in under ``root``, then reload systemd when it runs here:
    what ``station keys protect`` does after sealing the service's keys with systemd-creds (or opening them)."""
    root = Path(root).absolute()
    if root == Path("/") and not _is_root():
        raise InstallError("changing the service's unit needs root")
    plan = _Plan(root, dry_run, run)
    _key_credential(plan, sealed)
    if root == Path("/") and Path("/run/systemd/system").is_dir() and plan.actions:
        plan.command(["systemctl", "daemon-reload"])
    if sealed:
        plan.notes.append(f"restart the service to load the key credential: systemctl restart {UNIT_NAME}")
    return InstallReport(str(root), tuple(plan.actions), tuple(plan.notes))


def _remove_user_entries(plan: _Plan) -> None:
    """Under a staging root: drop the station lines from etc/passwd, group, shadow and gshadow."""
    for rel in ("etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"):
        path = plan.path(rel)
        if not path.is_file():
            continue
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if line.split(":", 1)[0] != USER]
        if len(kept) == len(lines):
            continue
        plan.actions.append(f"remove user {USER} from {plan.show(path)}")
        if not plan.dry_run:
            write_atomically(path, "".join(kept).encode(), mode=stat.S_IMODE(path.stat().st_mode))


def uninstall_service(root: Path | str, *, purge: bool = False, dry_run: bool = False,
                      run: Runner = _run) -> InstallReport:
    """Remove the unit, the site configuration, the sysusers/tmpfiles files and the user; keep /var/lib/station
    (database, keys, match log) unless ``purge``."""
    root = Path(root).absolute()
    real = root == Path("/")
    if real and not _is_root():
        raise InstallError("uninstalling from this machine (--root /) needs root")
    if _package_owns(root):
        raise InstallError("the station Debian package is installed in this root: remove it with apt "
                           "(apt purge also deletes /var/lib/station)")
    plan = _Plan(root, dry_run, run)
    systemd = real and Path("/run/systemd/system").is_dir()
    if systemd and plan.path(ADMIN_UNIT).exists():
        try:
            plan.command(["systemctl", "disable", "--now", UNIT_NAME])
        except InstallError as exc:
            plan.notes.append(f"could not stop the service: {exc}")
    for rel in (ADMIN_UNIT, KEYS_DROPIN, LIBFPRINT_DROPIN, SYSUSERS, TMPFILES, ETC_DIR):
        plan.remove(rel)
    dropins = plan.path(KEYS_DROPIN).parent
    if not dry_run and dropins.is_dir() and not any(dropins.iterdir()):
        dropins.rmdir()
    if systemd:
        plan.command(["systemctl", "daemon-reload"])
    if real:
        if _lookup_ids(root) is not None:
            plan.command(["userdel", USER])
    else:
        _remove_user_entries(plan)
    if purge:
        plan.remove(DATA_DIR)
    elif plan.path(DATA_DIR).exists():
        plan.notes.append(f"kept {plan.show(plan.path(DATA_DIR))} (database, keys, match log); --purge deletes it")
    return InstallReport(str(root), tuple(plan.actions), tuple(plan.notes))


def default_exec_path() -> str:
    return _station_script()
