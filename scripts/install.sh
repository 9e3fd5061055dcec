#!/usr/bin/env bash
# Installs everything the station needs on Debian 12 (run as root, or with sudo available):
# Debian packages for building pyscard and for the PC/SC stack, then a virtual environment in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

# Runtime: gcc and headers to build pyscard, the PC/SC daemon and its library.
# fonts-hosny-amiri: the Naskh font of the Urdu UI (Amiri, SIL OFL 1.1), served locally from /fonts/.
APT_PACKAGES="gcc make python3-dev python3-venv swig libpcsclite-dev pcscd fonts-hosny-amiri"
# Test-only (installed with --test): never on a production station.
# vsmartcard-vpcd: a virtual card reader for the card emulator (drivers/card/emulator.py); it listens on TCP 35963-4
# on all interfaces, so anyone on the network could insert a card: it must never be on a production station.
# systemd: systemd-creds and systemd-analyze, which the key-sealing and unit tests run (a station has it anyway).
APT_TEST_PACKAGES="postgresql vsmartcard-vpcd chromium systemd"
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
  "$VENV/bin/python" -m pip install -q -e '.[test]'
else
  "$VENV/bin/python" -m pip install -q -e .
fi
rm -f "$VENV"/.installed-*
touch "$stamp"
