"""`make deb` installs on a fresh Debian 12 with no network and no compiler (issue 17, item 1).

A minimal Debian 12 (mmdebstrap --variant=minbase, with only the package's Depends added: no gcc, no swig, no Python
headers) is made with the network; then, in a network namespace with nothing but a loopback (unshare --net), dpkg
installs the package into it (chroot): its postinst makes the venv from /opt/station/wheels with pip --no-index. In the
same namespace the installed station runs: `station doctor` on the service's own data (hardware profile, as the
station user), then on the simulated profile `init`, `roll synth --voters 3`, `user add`, `doctor`, and a voter
verified and given a ballot through the API of `station serve`; then `dpkg --purge` removes it all.

The Debian root is cached as a tarball (STATION_TEST_DEBIAN_CACHE, default ~/.cache/station-tests) for 7 days, keyed
by the Depends and the mirrors; STATION_TEST_DEBIAN_MIRROR names another Debian mirror."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.deb import built_deb
from tests.support.require import require_executable

pytestmark = [pytest.mark.slow,
              pytest.mark.needs_root("mmdebstrap, unshare --net, chroot and dpkg inside the root need root")]

MIRROR = os.environ.get("STATION_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY = os.environ.get("STATION_TEST_DEBIAN_SECURITY", "http://deb.debian.org/debian-security")
CACHE = Path(os.environ.get("STATION_TEST_DEBIAN_CACHE", Path.home() / ".cache" / "station-tests"))
CACHE_DAYS = 7
PASSWORD = "offline-officer-1234"

# Runs in the new network and mount namespaces, as root, before the chroot: /proc, the host's /dev (and /dev/shm, for
# the synthesis workers' semaphores), an empty /run (no systemd runs there, so the postinst enables the unit and starts
# nothing) and the loopback up (for `station serve`). The mounts end with the namespace.
OUTSIDE = r"""
set -euo pipefail
R=$1
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/run"
# `ip link set lo up` without iproute2 (not on every CI image): SIOCSIFFLAGS with IFF_UP | IFF_LOOPBACK | IFF_RUNNING
chroot "$R" /usr/bin/python3 -c 'import fcntl, socket, struct
fcntl.ioctl(socket.socket(), 0x8914, struct.pack("16sH14s", b"lo", 0x1 | 0x8 | 0x40, b""))'
exec chroot "$R" /bin/bash /root/offline/inside.sh
"""

INSIDE = r"""
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root
cd /root/offline
report() { printf '%s\n' "$1" >> /root/offline/report.jsonl; }
for tool in gcc cc c++ g++ swig x86_64-linux-gnu-gcc-12 pip pip3; do
  if command -v "$tool" >/dev/null; then report "{\"present\": \"$tool\"}"; fi
done
[ ! -e /usr/include/python3.11/Python.h ] || report '{"present": "Python.h"}'
if python3 -c 'import socket; socket.create_connection(("151.101.0.223", 443), timeout=5)' 2>/dev/null; then
  report '{"network": true}'
else
  report '{"network": false}'
fi

# A site's pip settings naming an index and a find-links URL (TEST-NET-1, unreachable anyway): the postinst must not
# even try them; pip's retry warnings name the path ("/planted-...") when it does.
planted=https://192.0.2.1/planted
printf '[global]\nindex-url = %s-conf-index\nfind-links = %s-conf-wheels\n' "$planted" "$planted" > /etc/pip.conf
start=$(date +%s%N)
PIP_INDEX_URL=$planted-env-index PIP_FIND_LINKS=$planted-env-wheels dpkg -i station.deb > dpkg.log 2>&1 \
    || { cat dpkg.log >&2; exit 1; }
report "{\"install_ms\": $(( ($(date +%s%N) - start) / 1000000 ))}"
rm /etc/pip.conf
report "{\"venv_kb\": $(du -sk /opt/station/venv | cut -f1), \"wheels_kb\": $(du -sk /opt/station/wheels | cut -f1)}"
# every native wheel loads with only the package's Depends installed (no library missing from Depends)
/opt/station/venv/bin/python -c 'import cv2, dlib, face_recognition, faiss, onnxruntime, smartcard.System, scipy
import matplotlib.backends.backend_agg, cryptography.hazmat.bindings._rust, gi
gi.require_version("FPrint", "2.0")
from gi.repository import FPrint'
report '{"imports": "ok"}'

runuser -u station -- env STATION_HOME=/var/lib/station STATION_PROFILE=hardware \
    STATION_SITE_CONFIG=/etc/station/station.toml station doctor --json > doctor-service.json
report '{"doctor_service": "ok"}'

S="station --profile simulated --home /root/offline/sim"
$S init > /dev/null
$S roll synth --voters 3 --workers 1 --json > synth.json
printf '%s\n' "$PASSWORD" | $S user add officer --role polling_officer > /dev/null
$S doctor --json > doctor-sim.json
$S roll list --json > voters.json
read -r cnic finger < <(python3 -c 'import json
v = json.load(open("voters.json"))[0]
print(v["cnic"], v["fingers"][0])')
$S serve --host 127.0.0.1 --port 8080 > serve.log 2>&1 &
server=$!
python3 verify.py http://127.0.0.1:8080 "$cnic" "$finger" "$PASSWORD" > verified.json
kill "$server"
wait "$server" || true

dpkg --purge station
[ ! -e /opt/station ] && ! getent passwd station > /dev/null && report '{"purged": true}'
"""

# The polling officer's client, with the chroot's own python3 (standard library only).
VERIFY = r"""
import json, sys, time, urllib.error, urllib.request
base, cnic, finger, password = sys.argv[1:5]
token = None

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")

for _ in range(240):
    try:
        if call("GET", "/api/health")[0] == 200:
            break
    except OSError:
        time.sleep(0.5)
status, body = call("POST", "/api/auth/login", {"username": "officer", "password": password})
assert status == 200, body
token = body["token"]
status, body = call("POST", "/api/sim/fingerprint", {"cnic": cnic, "finger": finger})
assert status == 200, body
status, body = call("POST", "/api/verifications", {"cnic": cnic})
assert status == 201 and body["state"] == "IDENTIFIED", body
while body["state"] == "IDENTIFIED" and body["next_step"] == "fingerprint":
    status, body = call("POST", f"/api/verifications/{body['id']}/fingerprint", {})
    assert status == 200, body
verified = body["state"]
status, body = call("POST", f"/api/verifications/{body['id']}/ballot")
print(json.dumps({"cnic": cnic, "verified": verified, "ballot": status, "state": body.get("state")}))
"""


def depends_names(deb: Path) -> list[str]:
    field = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True,
                           check=True).stdout
    return sorted({d.split()[0] for d in field.strip().split(", ")})


def debian_root_tarball(packages: list[str]) -> Path:
    """A minimal Debian 12 with ``packages`` as a tarball: from the cache when younger than CACHE_DAYS, else made."""
    require_executable("mmdebstrap", "Debian package mmdebstrap (scripts/install.sh --test installs it)")
    sources = [f"deb {MIRROR} bookworm main", f"deb {MIRROR} bookworm-updates main",
               f"deb {SECURITY} bookworm-security main"]
    key = hashlib.sha256(json.dumps([packages, sources]).encode()).hexdigest()[:16]
    tarball = CACHE / f"bookworm-minbase-{key}.tar"
    if tarball.exists() and time.time() - tarball.stat().st_mtime < CACHE_DAYS * 86400:
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial.tar")
    done = subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase",
                           "--aptopt=Apt::Install-Recommends \"false\"", f"--include={','.join(packages)}",
                           "bookworm", str(partial), *sources],
                          capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    partial.rename(tarball)
    return tarball


@pytest.fixture(scope="module")
def offline_install(tmp_path_factory) -> dict:
    for tool in ("unshare", "chroot"):
        require_executable(tool, "Debian packages util-linux and coreutils")
    deb = built_deb(tmp_path_factory)
    tarball = debian_root_tarball(depends_names(deb))
    root = tmp_path_factory.mktemp("debian12") / "root"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xf", str(tarball)], check=True)
    work = root / "root/offline"
    work.mkdir(parents=True)
    shutil.copy(deb, work / "station.deb")
    (work / "inside.sh").write_text(INSIDE)
    (work / "verify.py").write_text(VERIFY)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PASSWORD": PASSWORD}
    started = time.monotonic()
    run = subprocess.run(["unshare", "--net", "--mount", "--fork", "bash", "-c", OUTSIDE, "offline", str(root)],
                         env=env, capture_output=True, text=True, timeout=1500, check=False)
    report: dict = {"returncode": run.returncode, "stdout": run.stdout[-6000:], "stderr": run.stderr[-6000:],
                    "seconds": round(time.monotonic() - started, 1), "deb_bytes": deb.stat().st_size}
    for line in (work / "report.jsonl").read_text().splitlines() if (work / "report.jsonl").exists() else ():
        report.update(json.loads(line))
    report["dpkg_log"] = (work / "dpkg.log").read_text() if (work / "dpkg.log").exists() else None
    for name in ("doctor-service", "doctor-sim", "verified", "synth"):
        path = work / f"{name}.json"
        report[name.replace("-", "_") + "_json"] = json.loads(path.read_text()) if path.exists() else None
    print(json.dumps({k: report.get(k) for k in ("seconds", "install_ms", "venv_kb", "wheels_kb", "deb_bytes")}))
    return report


def test_the_root_is_a_fresh_debian_12_with_no_compiler_and_no_network(offline_install):
    assert "present" not in offline_install, offline_install
    assert offline_install.get("network") is False, offline_install


def test_dpkg_installs_offline_and_the_station_verifies_a_voter(offline_install):
    assert offline_install["returncode"] == 0, offline_install["stderr"]
    assert offline_install["install_ms"] > 0 and offline_install["venv_kb"] > 0
    log = offline_install["dpkg_log"]  # the planted pip.conf and PIP_* were never asked
    assert "planted" not in log and "192.0.2.1" not in log and "Retrying" not in log, log
    assert offline_install.get("imports") == "ok", offline_install["stderr"]
    assert offline_install.get("doctor_service") == "ok", offline_install["stderr"]
    assert offline_install["synth_json"]["voters"] == 3
    verified = offline_install["verified_json"]
    assert verified == {"cnic": verified["cnic"], "verified": "VERIFIED", "ballot": 200, "state": "BALLOT_ISSUED"}
    assert offline_install.get("purged") is True, offline_install["stderr"]
