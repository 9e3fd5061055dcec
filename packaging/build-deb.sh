#!/usr/bin/env bash
# `make deb`: builds dist/station_<version>_all.deb from this checkout with dpkg-deb (docs/service.md, "The Debian
# package"). The service files come from the same code as `station install` (station/install.py, --package layout);
# the source tree goes to /opt/station/src; the postinst builds /opt/station/venv with scripts/install.sh (pip, from
# PyPI or a local wheel folder) and applies the sysusers.d/tmpfiles.d files. Needs python3 (>= 3.11) and dpkg-deb;
# runs lintian when it is installed. Options by environment: DIST (output folder, default dist),
# DEB_MAINTAINER ("Name <mail>"), LINTIAN=0 (skip lintian).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${DIST:-dist}
PY=${PYTHON:-python3}
MAINTAINER=${DEB_MAINTAINER:-"Voter Station developers <voter-station@localhost>"}

VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
# The Debian packages scripts/install.sh wants (the postinst runs it: each must already be installed, or it would call
# apt-get inside dpkg), plus what the service itself needs.
APT_PACKAGES=$(sed -n 's/^APT_PACKAGES="\(.*\)"$/\1/p' scripts/install.sh)
[ -n "$APT_PACKAGES" ] || { echo "build-deb: cannot read APT_PACKAGES from scripts/install.sh" >&2; exit 1; }
DEPENDS="python3 (>= 3.11), python3-venv, libpcsclite1, systemd, passwd"
for p in $APT_PACKAGES; do
  case ", $DEPENDS," in *", $p,"*) ;; *) DEPENDS="$DEPENDS, $p" ;; esac
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PKG="$WORK/station"
mkdir -p "$PKG/DEBIAN"

# 1. The unit, sysusers.d, tmpfiles.d and /etc/station/station.toml: the `station install --package` layout.
PYTHONPATH="$REPO" "$PY" - "$PKG" <<'PYEOF'
import sys
from station.service.install import PACKAGE_EXEC, ServiceSettings, install_service
install_service(sys.argv[1], ServiceSettings(exec_path=PACKAGE_EXEC), package=True)
PYEOF

# 2. The source tree (tracked and new files of the checkout; no tests, caches or local state).
SRC="$PKG/opt/station/src"
mkdir -p "$SRC"
PARTS="station drivers matching api config fixtures docs scripts/install.sh pyproject.toml README.md babel.cfg"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  git -C "$REPO" ls-files -z --cached --others --exclude-standard -- $PARTS
else
  # shellcheck disable=SC2086
  find $PARTS -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0
fi | while IFS= read -r -d '' f; do
  [ -f "$f" ] && printf '%s\0' "$f"
done | sort -z | xargs -0 -r cp --parents -t "$SRC"
ln -s /opt/station/venv/bin/station "$WORK/station-link"
mkdir -p "$PKG/usr/bin" && mv "$WORK/station-link" "$PKG/usr/bin/station"

# 3. Documentation Debian wants.
DOC="$PKG/usr/share/doc/station"
mkdir -p "$DOC"
cp docs/service.md "$DOC/service.md"
cat > "$DOC/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: voter-station

Files: *
Copyright: $(date +%Y) the voter-station developers
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPY
mkdir -p "$PKG/usr/share/lintian/overrides"
cat > "$PKG/usr/share/lintian/overrides/station" <<OVR
# An add-on package, not for the Debian archive: FHS 3.13 reserves /opt for add-on application software.
station: dir-or-file-in-opt
# The site settings may hold a database URL with its password: root and group station only (tmpfiles.d sets it).
station: non-standard-file-perm 0640 != 0644 [etc/station/station.toml]
OVR
printf 'station (%s) unstable; urgency=medium\n\n  * Built from the repository by packaging/build-deb.sh.\n\n -- %s  %s\n' \
  "$VERSION" "$MAINTAINER" "$(date -R)" | gzip -9n > "$DOC/changelog.gz"

# 4. Modes: directories 0755, files 0644 (scripts keep their x bit), the site settings 0640 (the postinst's
# systemd-tmpfiles gives them to group station); everything root-owned (dpkg-deb --root-owner-group).
find "$PKG" -path "$PKG/DEBIAN" -prune -o -type d -exec chmod 0755 {} +
find "$PKG" -path "$PKG/DEBIAN" -prune -o -type f -exec chmod u+rw,go+r,go-w {} +
find "$PKG/opt/station/src" -type f -name '*.sh' -exec chmod 0755 {} +
chmod 0640 "$PKG/etc/station/station.toml"

# 5. Control files.
INSTALLED_KB=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: station
Version: $VERSION
Architecture: all
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_KB
Depends: $DEPENDS
Recommends: postgresql-client
Section: misc
Priority: optional
Description: biometric voter verification station (service)
 Identifies a voter by CNIC (typed or card), verifies the fingerprint
 (face as fallback) against the station's roll, issues the ballot once and
 writes every decision to a signed, append-only match log, offline.
 .
 This package installs the source under /opt/station/src, a hardened
 systemd unit (station.service), the system user "station" and
 /var/lib/station. Its postinst builds /opt/station/venv with pip (from
 PyPI, or offline with PIP_NO_INDEX=1 PIP_FIND_LINKS=/path/to/wheels).
CONTROL
echo /etc/station/station.toml > "$PKG/DEBIAN/conffiles"
for s in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$s" "$PKG/DEBIAN/$s"
done
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
chmod 0644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/conffiles" "$PKG/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB="$OUT/station_${VERSION}_all.deb"
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
if [ "${LINTIAN:-1}" = 0 ]; then
  :
elif command -v lintian >/dev/null 2>&1; then
  lintian --tag-display-limit 0 "$DEB" >&2 || true
else
  echo "build-deb: lintian not installed: not checked" >&2
fi
