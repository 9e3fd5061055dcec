"""The station as a service: `station install/uninstall --root DIR`, the unit (systemd-analyze verify), the Debian
package (`packaging/build-deb.sh`, installed into a temporary root), and HTTPS from the station CA."""
from __future__ import annotations

import configparser
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from station.cli import service as cli_service
from station.service import install
from station.service import serving
from station.security import tls
from station.config import load_config
from station.errors import StationError

from tests.support.cli import cli_for
from tests.support.deb import built_deb
from tests.support.require import SYSTEMD_HOW, require, require_executable
from tests.support.stations import REPO, build_station, free_port

IS_ROOT = os.geteuid() == 0
HAS_SYSUSERS = shutil.which("systemd-sysusers") is not None and shutil.which("systemd-tmpfiles") is not None


def run_install(root: Path, *args: str):
    return CliRunner().invoke(cli_service.install, ["--root", str(root), *args], catch_exceptions=False)


def run_uninstall(root: Path, *args: str):
    return CliRunner().invoke(cli_service.uninstall, ["--root", str(root), *args], catch_exceptions=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def unit_settings(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read_string(path.read_text())
    return dict(parser["Service"])


def passwd_entry(root: Path, name: str = "station") -> list[str] | None:
    path = root / "etc/passwd"
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    return None


# --- station install / uninstall into a root ---------------------------------------------------------------------

def test_install_into_a_root_lays_out_the_service(tmp_path):
    root = tmp_path / "root"
    host_passwd = Path("/etc/passwd").read_bytes()
    result = run_install(root, "--station-id", "AJK-LOC-07", "--polling-station", "PS-042", "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output

    unit = root / install.ADMIN_UNIT
    assert mode(unit) == 0o644
    service = unit_settings(unit)
    expected = {"User": "station", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectSystem": "strict",
                "ProtectHome": "yes", "ReadWritePaths": "/var/lib/station", "PrivateDevices": "no",
                "DevicePolicy": "closed", "CapabilityBoundingSet": "", "LockPersonality": "yes",
                "Restart": "on-failure", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
                "StateDirectory": "station", "StateDirectoryMode": "0700"}
    assert {k: service.get(k) for k in expected} == expected
    assert "char-video4linux rw" in service["DeviceAllow"]
    env = dict(item.split("=", 1) for item in service["Environment"].split())
    assert env["STATION_HOME"] == "/var/lib/station" and env["STATION_PROFILE"] == "hardware"
    assert env["STATION_SITE_CONFIG"] == "/etc/station/station.toml"
    exec_path, verb = service["ExecStart"].split()
    assert verb == "serve" and Path(exec_path).is_file()

    assert (root / install.SYSUSERS).read_text().splitlines()[-1].split()[:3] == ["u", "station", "-"]
    tmpfiles = (root / install.TMPFILES).read_text()
    assert "d /var/lib/station 0700 station station" in tmpfiles
    assert "z /etc/station/station.toml 0640 root station" in tmpfiles

    site = root / install.SITE_CONFIG
    assert mode(site) == 0o640 and mode(root / "var/lib/station") == 0o700 and mode(root / "var/lib/station/logs") == 0o700
    settings = tomllib.loads(site.read_text())
    assert settings["station"] == {"id": "AJK-LOC-07", "polling_station": "PS-042"}
    assert settings["server"] == {"host": "0.0.0.0", "port": 8080}
    assert Path("/etc/passwd").read_bytes() == host_passwd  # a root install never touches this machine's users

    if IS_ROOT and HAS_SYSUSERS:  # the user's entries were written into the root, and the owners follow them
        entry = passwd_entry(root)
        assert entry is not None and entry[5:] == ["/var/lib/station", "/usr/sbin/nologin"]
        uid, gid = int(entry[2]), int(entry[3])
        data = (root / "var/lib/station").stat()
        assert (data.st_uid, data.st_gid) == (uid, gid)
        assert (site.stat().st_uid, site.stat().st_gid) == (0, gid)
    else:
        assert passwd_entry(root) is None
        assert "not root" in result.output or "systemd-sysusers not found" in result.output


def test_the_site_configuration_is_what_the_service_loads(tmp_path):
    root = tmp_path / "root"
    assert run_install(root, "--station-id", "AJK-LOC-08", "--port", "8443").exit_code == 0
    config = load_config("hardware", home=tmp_path / "home",
                         environ={"STATION_SITE_CONFIG": str(root / install.SITE_CONFIG)})
    assert (config.station.id, config.server.port, config.profile) == ("AJK-LOC-08", 8443, "hardware")


def test_reinstall_keeps_an_edited_site_configuration(tmp_path):
    root = tmp_path / "root"
    assert run_install(root).exit_code == 0
    site = root / install.SITE_CONFIG
    site.write_text(site.read_text().replace('host = "127.0.0.1"', 'host = "192.0.2.10"'))
    again = run_install(root, "--port", "9000")
    assert again.exit_code == 0, again.output
    assert 'host = "192.0.2.10"' in site.read_text() and "port = 8080" in site.read_text()
    assert "port = 9000" in (root / (install.SITE_CONFIG + ".new")).read_text()
    assert "kept your /etc/station/station.toml" in again.output


def test_uninstall_keeps_the_data_and_purge_deletes_it(tmp_path):
    root = tmp_path / "root"
    assert run_install(root).exit_code == 0
    keep = root / "var/lib/station/keys/template.key"
    keep.parent.mkdir()
    keep.write_bytes(b"k" * 32)
    result = run_uninstall(root)
    assert result.exit_code == 0, result.output
    for rel in (install.ADMIN_UNIT, install.SYSUSERS, install.TMPFILES, install.ETC_DIR):
        assert not (root / rel).exists(), rel
    assert passwd_entry(root) is None
    assert keep.read_bytes() == b"k" * 32 and "kept /var/lib/station" in result.output

    assert run_install(root).exit_code == 0
    purged = run_uninstall(root, "--purge")
    assert purged.exit_code == 0, purged.output
    assert not (root / "var/lib/station").exists() and not (root / install.ADMIN_UNIT).exists()


@pytest.mark.needs_root("installing on / is refused without root (checked by the next test)")
def test_install_on_this_machine_uses_useradd_dry_run(tmp_path):
    """On / the user comes from useradd --system and `station init` runs as that user; --dry-run changes nothing."""
    script = tmp_path / "opt/bin/station"
    script.parent.mkdir(parents=True)
    script.write_text("#!/usr/bin/python3\n")
    before = {p: p.exists() for p in (Path("/etc/station"), Path("/etc/systemd/system/station.service"),
                                      Path("/usr/lib/sysusers.d/station.conf"))}
    result = run_install(Path("/"), "--exec", str(script), "--dry-run")
    assert result.exit_code == 0, result.output
    assert {p: p.exists() for p in before} == before
    lines = result.output.splitlines()
    assert "write /etc/systemd/system/station.service (0o644)" in lines
    if passwd_entry(Path("/")) is None:
        useradd = next(line for line in lines if line.startswith("run useradd"))
        assert "--system" in useradd and useradd.endswith(" station")
    init = next(line for line in lines if line.startswith("run runuser -u station"))
    assert init.endswith(f"{script} init") and "STATION_HOME=/var/lib/station" in init


def test_install_on_this_machine_refuses_code_hidden_by_protect_home(tmp_path, monkeypatch):
    script = tmp_path / "station"
    script.write_text("#!/root/venv/bin/python\n")
    if not IS_ROOT:
        result = CliRunner().invoke(cli_service.install, ["--exec", str(script), "--dry-run"])
        assert result.exit_code == 3 and "needs root" in result.output
        return
    result = CliRunner().invoke(cli_service.install, ["--exec", str(script), "--dry-run"])
    assert result.exit_code == 3
    assert "ProtectHome=yes hides /root/venv/bin/python" in result.output and "Traceback" not in result.output


# --- the unit under systemd-analyze --------------------------------------------------------------------------------

def analyze(unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    require_executable("systemd-analyze", SYSTEMD_HOW)
    root = tmp_path / "root"
    assert run_install(root).exit_code == 0
    unit = root / install.ADMIN_UNIT
    done = analyze(unit)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    # The same check sees a mistake: a misspelt option is reported.
    broken = tmp_path / "station.service"
    broken.write_text(unit.read_text().replace("LockPersonality=", "LockPersonalty="))
    assert "LockPersonalty" in analyze(broken).stderr


# --- the Debian package --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    """Built once per run, shared with tests/station/service/test_offline_deb.py (which installs it offline)."""
    path = built_deb(tmp_path_factory)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    assert path.name == f"station_{version}_{arch}.deb"  # binary wheels inside: no longer Architecture: all
    return path


@pytest.mark.slow
def test_the_deb_lists_the_layout(deb):
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True).stdout
    members = set()
    for line in info.splitlines():  # "    2361 bytes,    46 lines   *  postinst   #!/bin/sh"
        parts = line.split()
        if len(parts) > 4 and parts[1:4:2] == ["bytes,", "lines"]:
            members.add(next(p for p in parts[4:] if p != "*"))
    assert {"control", "conffiles", "postinst", "prerm", "postrm", "md5sums"} <= members
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line and not line.startswith(" "))
    assert fields["Package"] == "station" and fields["Architecture"] != "all"
    depends = {d.split()[0] for d in fields["Depends"].split(", ")}
    assert {"python3", "python3-venv", "pcscd", "libpcsclite1", "systemd"} <= depends
    # installs offline with no compiler: wheels built at build time, nothing to compile on the station
    assert not depends & {"gcc", "make", "swig", "python3-dev", "pkg-config"} and not any(
        d.endswith("-dev") for d in depends), depends
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    entries = {line.split()[-1] if " -> " not in line else line.split()[-3]: line.split()[:2]
               for line in listing.splitlines()}
    for path, perms in {"./lib/systemd/system/station.service": "-rw-r--r--",
                        "./usr/lib/sysusers.d/station.conf": "-rw-r--r--",
                        "./usr/lib/tmpfiles.d/station.conf": "-rw-r--r--",
                        "./etc/station/station.toml": "-rw-r-----",
                        "./opt/station/src/station/cli/main.py": "-rw-r--r--",
                        "./opt/station/src/config/default.toml": "-rw-r--r--",
                        "./opt/station/wheels/requirements.txt": "-rw-r--r--",
                        "./opt/station/wheels/requirements-no-deps.txt": "-rw-r--r--"}.items():
        assert entries.get(path) == [perms, "root/root"], path
    assert not any("/tests/" in p or "__pycache__" in p for p in entries)
    # the postinst installs from wheels only (no sdist to compile), every one pinned by hash in the two locks
    wheels = {p.rsplit("/", 1)[1] for p in entries if p.startswith("./opt/station/wheels/") and not p.endswith("/")}
    assert all(w.endswith(".whl") for w in wheels - {"requirements.txt", "requirements-no-deps.txt"}), wheels
    assert any(w.startswith("pyscard-") for w in wheels) and any(w.startswith("face_recognition-") for w in wheels)
    assert "./opt/station/src/scripts/install.sh" not in entries  # it would call apt-get and PyPI


@pytest.mark.slow
def test_the_deb_extracts_to_the_same_files_as_station_install(deb, tmp_path):
    extracted, installed = tmp_path / "deb", tmp_path / "install"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(extracted)], check=True)
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    assert (control / "conffiles").read_text().split() == ["/etc/station/station.toml"]
    postinst = (control / "postinst").read_text()  # the venv from the package's wheels only, never an index
    assert 'PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip --isolated' in postinst
    assert "install --no-index" in postinst and postinst.count("pip_offline ") == 3
    assert "--find-links \"$WHEELS\" --require-hashes" in postinst and "scripts/install.sh" not in postinst
    assert run_install(installed).exit_code == 0
    for rel in (install.SYSUSERS, install.TMPFILES, install.SITE_CONFIG):
        assert (extracted / rel).read_text() == (installed / rel).read_text(), rel
    package_unit = unit_settings(extracted / install.PACKAGE_UNIT)
    admin_unit = unit_settings(installed / install.ADMIN_UNIT)
    assert package_unit.pop("ExecStart") == f"{install.PACKAGE_EXEC} serve"
    admin_unit.pop("ExecStart")
    assert package_unit == admin_unit


@pytest.mark.needs_root("the maintainer scripts create the station user and chown its folders as root")
@pytest.mark.slow
def test_dpkg_installs_the_deb_into_a_temporary_root_and_purges_it(deb, tmp_path):
    """The real maintainer scripts, run by dpkg itself for a root (DPKG_ROOT): user, directories, unit; then purge."""
    require(HAS_SYSUSERS, "the programs systemd-sysusers and systemd-tmpfiles", SYSTEMD_HOW)
    root = tmp_path / "root"
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/updates").mkdir()
    (root / "var/lib/dpkg/status").touch()
    dpkg = ["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends", "--log=/dev/null"]
    done = subprocess.run([*dpkg, "-i", str(deb)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    entry = passwd_entry(root)
    assert entry is not None and entry[5] == "/var/lib/station"
    data = (root / "var/lib/station").stat()
    assert stat.S_IMODE(data.st_mode) == 0o700 and data.st_uid == int(entry[2])
    site = (root / install.SITE_CONFIG).stat()
    assert stat.S_IMODE(site.st_mode) == 0o640 and site.st_gid == int(entry[3])
    assert unit_settings(root / install.PACKAGE_UNIT)["User"] == "station"
    done = subprocess.run([*dpkg, "--purge", "station"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert passwd_entry(root) is None
    assert not (root / "var/lib/station").exists() and not (root / install.PACKAGE_UNIT).exists()
    assert not (root / "opt/station").exists()


# --- TLS ---------------------------------------------------------------------------------------------------------

def test_station_ca_and_server_certificate(tmp_path):
    keys = tmp_path / "keys"
    # the CA may vouch only for the names and addresses it was made for (name constraints)
    assert tls.create_station_ca(keys, "AJK-LOC-07", hostnames=["station-7"], ips=["192.0.2.7", "192.0.2.8"]) is True
    ca_pem = (keys / tls.CA_CERT_FILE).read_bytes()
    assert tls.create_station_ca(keys, "AJK-LOC-07") is False and (keys / tls.CA_CERT_FILE).read_bytes() == ca_pem
    assert mode(keys) == 0o700 and mode(keys / tls.CA_KEY_FILE) == 0o600
    ca = x509.load_pem_x509_certificate(ca_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.public_key().curve.name == "secp256r1"

    first = tls.issue_server_certificate(keys, ["station-7", "localhost"], ["127.0.0.1", "192.0.2.7"], force=False)
    assert first.issued_now and mode(keys / tls.SERVER_KEY_FILE) == 0o600
    cert = x509.load_pem_x509_certificate(first.cert_file.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["station-7", "localhost"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "192.0.2.7"]
    same = tls.issue_server_certificate(keys, ["localhost"], ["192.0.2.7"], force=False)
    assert not same.issued_now
    moved = tls.issue_server_certificate(keys, ["localhost"], ["192.0.2.8"], force=False)  # a new DHCP lease
    assert moved.issued_now
    with pytest.raises(tls.TlsError, match="not an IP address"):
        tls.issue_server_certificate(keys, ["localhost"], ["192.0.2.300"])


def test_plain_http_only_on_loopback(tmp_path):
    keys = tmp_path / "keys"
    tls.create_station_ca(keys, "AJK-LOC-07", hostnames=["booth-3.station"], ips=["192.0.2.10"])
    plan = serving.prepare_listener
    assert plan("127.0.0.1", 8080, mode="auto", keys_dir=keys).scheme == "http"
    assert plan("::1", 8080, mode="auto", keys_dir=keys).url == "http://[::1]:8080"
    lan = plan("192.0.2.10", 8443, mode="auto", keys_dir=keys)
    assert lan.scheme == "https" and "192.0.2.10" in lan.certificate.ips
    named = plan("booth-3.station", 8443, mode="auto", keys_dir=keys)
    assert "booth-3.station" in named.certificate.dns_names
    for host in ("0.0.0.0", "::", "192.0.2.10", "booth-3.station"):
        with pytest.raises(StationError, match=f"refusing to serve plain HTTP on {host}"):
            plan(host, 8080, mode="off", keys_dir=keys)
    with pytest.raises(StationError, match="no station TLS CA"):
        plan("0.0.0.0", 8443, mode="auto", keys_dir=tmp_path / "empty")


def test_serve_refuses_plain_http_on_a_lan_address(tmp_path, make_database_url):
    from station.cli.main import main

    home, database_url = tmp_path / "home", make_database_url()
    build_station(home, database_url).init()
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(home), "serve", "--host", "0.0.0.0"],
                                env={"STATION_TLS__MODE": "off", "STATION_DATABASE__URL": database_url})
    assert result.exit_code == 3
    assert result.output.strip().startswith("error: refusing to serve plain HTTP on 0.0.0.0")


def test_init_creates_the_ca_and_export_ca_writes_it(tmp_path, make_database_url):
    home = tmp_path / "home"
    station = build_station(home, make_database_url())
    station.init()
    station.close()
    out = tmp_path / "station-ca.crt"
    result = CliRunner().invoke(cli_for(cli_service.tls_group, home), ["tls", "export-ca", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (home / "keys" / tls.CA_CERT_FILE).read_bytes()
    assert tls.fingerprint(x509.load_pem_x509_certificate(out.read_bytes())) in result.output


def _get(url: str | urllib.request.Request, context: ssl.SSLContext | None) -> bytes:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.read()


def test_https_server_answers_health_with_a_certificate_chaining_to_the_station_ca(tmp_path, make_database_url):
    from api import create_app

    station = build_station(tmp_path / "home", make_database_url())
    station.init()
    keys = station.config.keys_dir
    listener = serving.prepare_listener("127.0.0.1", 0, mode="on", keys_dir=keys)
    server = serving.make_server(create_app(station), listener, threads=2, max_request_body_size=16_000_000)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        port = server.bind_addr[1]
        trusting = ssl.create_default_context(cafile=str(keys / tls.CA_CERT_FILE))
        for host in ("localhost", "127.0.0.1"):
            assert b'"status":"ok"' in _get(f"https://{host}:{port}/api/health", trusting)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with trusting.wrap_socket(raw, server_hostname="localhost") as conn:
                assert conn.version() in ("TLSv1.2", "TLSv1.3")
                peer = x509.load_der_x509_certificate(conn.getpeercert(binary_form=True))
        assert peer.issuer.rfc4514_string() == tls.ca_info(keys).subject
        oversized = urllib.request.Request(f"https://localhost:{port}/api/verifications", data=b"x" * 10_000_000,
                                           method="POST", headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:  # answered with a reason, not a reset connection
            _get(oversized, trusting)
        assert refused.value.code in (400, 401, 413) and b"detail" in refused.value.read()
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(f"https://localhost:{port}/api/health", ssl.create_default_context())  # system CAs only
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            plain.sendall(b"GET /api/health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            try:
                answer = plain.recv(4096)
            except ConnectionResetError:  # the TLS layer drops it: also a refusal
                answer = b""
        assert b"status" not in answer and not answer.startswith(b"HTTP/1.0 200")
    finally:
        server.stop()
        thread.join(10)
        station.close()


@pytest.mark.slow
def test_station_serve_over_https_and_stops_cleanly_on_sigterm(tmp_path, make_database_url):
    home = tmp_path / "home"
    database_url = make_database_url()
    build_station(home, database_url).init()
    port = free_port()
    env = {**os.environ, "STATION_HOME": str(home), "STATION_DATABASE__URL": database_url, "STATION_PROFILE": "test",
           "STATION_TLS__MODE": "on"}
    errors = tmp_path / "stderr"
    with errors.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "station", "serve", "--port", str(port)], env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        banner = proc.stdout.readline()  # printed once the socket is bound, or '' if the server exited
        assert f"serving on https://127.0.0.1:{port}" in banner, banner + errors.read_text()
        trusting = ssl.create_default_context(cafile=str(home / "keys" / tls.CA_CERT_FILE))
        assert b'"status":"ok"' in _get(f"https://localhost:{port}/api/health", trusting)
    finally:
        proc.terminate()
        try:
            code = proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
    assert code == 0
    assert "stopping on SIGTERM" in (home / "logs" / serving.LOG_FILE).read_text()


def test_install_for_a_libfprint_reader_adds_the_usb_dropin_that_systemd_reads(tmp_path):
    require_executable("systemd-analyze", SYSTEMD_HOW)
    root = tmp_path / "root"
    assert run_install(root, "--libfprint").exit_code == 0
    dropin = root / install.LIBFPRINT_DROPIN
    assert unit_settings(dropin) == {"DeviceAllow": "char-usb_device rw", "RestrictAddressFamilies": "AF_NETLINK"}
    assert tomllib.loads((root / install.SITE_CONFIG).read_text())["devices"] == {"fingerprint": "libfprint"}
    # systemd reads the drop-in with the unit: a good one draws no complaint naming it, a broken one does
    good = subprocess.run(["systemd-analyze", "verify", f"--root={root}", install.UNIT_NAME],
                          capture_output=True, text=True, timeout=60)
    assert "libfprint.conf" not in good.stderr, good.stderr
    dropin.write_text(dropin.read_text().replace("AF_NETLINK", "AF_NETLNK"))
    broken = subprocess.run(["systemd-analyze", "verify", f"--root={root}", install.UNIT_NAME],
                            capture_output=True, text=True, timeout=60)
    assert "libfprint.conf" in broken.stderr and "AF_NETLNK" in broken.stderr
    # a reinstall without the reader takes the drop-in away again, and so does uninstall
    assert run_install(root).exit_code == 0 and not dropin.exists()
    assert "devices" not in tomllib.loads((root / (install.SITE_CONFIG + ".new")).read_text())
    assert run_install(root, "--libfprint").exit_code == 0 and dropin.exists()
    assert run_uninstall(root).exit_code == 0
    assert not dropin.exists()
