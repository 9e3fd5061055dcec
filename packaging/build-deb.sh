#!/usr/bin/env bash
# `make deb`: builds dist/station_<version>_<arch>.deb from this checkout with dpkg-deb (docs/service.md, "The Debian
# package"). The package installs with no network and no compiler: every run-time Python dependency is built here
# into a wheel (pyscard, PyGObject and pycairo are compiled here) and shipped in /opt/station/wheels with a
# hash-pinned lock; the postinst makes /opt/station/venv from those wheels with `pip install --no-index` (never a
# package index), installs the source tree /opt/station/src into it (editable: the code finds config/ and fixtures/
# beside itself) and applies the sysusers.d/tmpfiles.d files. The service files come from the same code as
# `station install` (--package layout).
# Needs python3 (>= 3.11, the minor version of the target's python3: the wheels are built for it) with pip, dpkg-deb,
# and what scripts/install.sh installs to compile those three (gcc, swig, python3-dev, libpcsclite-dev,
# libgirepository1.0-dev, libcairo2-dev); pip downloads the other wheels (or takes them from its cache). Runs lintian
# when it is installed. Options by environment:
# DIST (output folder, default dist), DEB_MAINTAINER ("Name <mail>"), LINTIAN=0 (skip lintian),
# DEB_CONSTRAINTS (a pip constraints file; default: the versions installed in ${VENV:-.venv}, the ones the tests ran
# on, when that venv exists; "none": the newest that pyproject.toml allows), DEB_COMPRESS and DEB_COMPRESS_LEVEL
# (dpkg-deb -Z and -z: gzip -1 by default; the wheels, nine tenths of the package, are compressed already: xz spent
# 3.5 CPU-minutes to save 1%, and lintian 2.116 calls a zstd member malformed).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${DIST:-dist}
PY=${PYTHON:-python3}
MAINTAINER=${DEB_MAINTAINER:-"Voter Station developers <voter-station@localhost>"}
COMPRESS=${DEB_COMPRESS:-gzip}
COMPRESS_LEVEL=${DEB_COMPRESS_LEVEL:-1}

VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
ARCH=$(dpkg --print-architecture)
# The wheels are built for this Python's minor version (cp311...): the target's python3 must be the same minor.
PYMINOR=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYNEXT=$("$PY" -c 'import sys; print("%d.%d" % (sys.version_info[0], sys.version_info[1] + 1))')
"$PY" -m pip --version >/dev/null 2>&1 || { echo "build-deb: $PY has no pip (apt install python3-pip)" >&2; exit 1; }
# Run-time Debian packages: those scripts/install.sh installs, less what only builds wheels (compilers, headers,
# -dev packages), which stays on the build machine; plus what the service itself needs; plus (step 2b) the packages
# of the shared libraries the wheels link to and do not bundle (pyscard: libpcsclite1; PyGObject: libgirepository).
APT_PACKAGES=$("$PY" -c 'import re
m = re.search(r"^APT_PACKAGES=\"([^\"]*)\"", open("scripts/install.sh").read(), re.M)
print(" ".join(m.group(1).split()) if m else "")')
[ -n "$APT_PACKAGES" ] || { echo "build-deb: cannot read APT_PACKAGES from scripts/install.sh" >&2; exit 1; }
BUILD_ONLY=" gcc g++ make cmake meson ninja-build pkg-config pkgconf swig build-essential "
DEPENDS="python3 (>= $PYMINOR), python3 (<< $PYNEXT), python3-venv, libpcsclite1, systemd, passwd"
add_depends() {
  for p in "$@"; do
    case "$BUILD_ONLY" in *" $p "*) continue ;; esac
    case "$p" in *-dev) continue ;; esac
    case ", $DEPENDS," in *", $p,"*) ;; *) DEPENDS="$DEPENDS, $p" ;; esac
  done
}
# shellcheck disable=SC2086
add_depends $APT_PACKAGES

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

# 2. The source tree (tracked and new files of the checkout; no tests, caches or local state). Not scripts/install.sh:
# it installs Debian packages and pulls wheels from PyPI, which is what this package exists to avoid.
SRC="$PKG/opt/station/src"
mkdir -p "$SRC"
PARTS="station drivers matching api config fixtures docs pyproject.toml README.md babel.cfg"
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

# 2b. The wheelhouse: pyproject.toml's dependencies and all theirs, as wheels (pip's cache makes a second build quick;
# sdists such as pyscard's are compiled here), then face-recognition alone (scripts/install.sh installs it with
# --no-deps: it pins "dlib", which dlib-bin provides). requirements.txt and requirements-no-deps.txt pin every wheel
# by version and SHA-256 (pip --require-hashes in the postinst).
WHEELS="$PKG/opt/station/wheels"
mkdir -p "$WHEELS"
"$PY" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
  > "$WORK/requirements.in"
CONSTRAINT_ARGS=()
CONSTRAINTS=${DEB_CONSTRAINTS:-}
if [ -z "$CONSTRAINTS" ] && [ -x "${VENV:-.venv}/bin/python" ]; then
  "${VENV:-.venv}/bin/python" -m pip freeze --all --exclude-editable 2>/dev/null \
    | grep -E '^[A-Za-z0-9._-]+==' > "$WORK/constraints.txt" || true
  CONSTRAINTS="$WORK/constraints.txt"
fi
if [ -n "$CONSTRAINTS" ] && [ "$CONSTRAINTS" != none ]; then CONSTRAINT_ARGS=(-c "$CONSTRAINTS"); fi
# (The grep drops the warning a pip.conf naming a local index folder gives for each package that folder lacks.)
"$PY" -m pip wheel -q --disable-pip-version-check -w "$WHEELS" "${CONSTRAINT_ARGS[@]}" -r "$WORK/requirements.in" \
  2> >(grep -v "^WARNING: Location .* is ignored" >&2) || {
  echo "build-deb: pip wheel failed; if ${VENV:-.venv} is older than pyproject.toml, run make install first or set" \
    "DEB_CONSTRAINTS=none" >&2; exit 1; }
mkdir -p "$WORK/no-deps"
"$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$WORK/no-deps" "${CONSTRAINT_ARGS[@]}" \
  face-recognition 2> >(grep -v "^WARNING: Location .* is ignored" >&2)
cp "$WORK"/no-deps/*.whl "$WHEELS/"
"$PY" - "$WHEELS" "$WORK/no-deps" <<'PYEOF'
import hashlib, sys
from pathlib import Path
wheels, no_deps = Path(sys.argv[1]), {p.name for p in Path(sys.argv[2]).glob("*.whl")}
if any(p.suffix != ".whl" for p in wheels.iterdir()):
    sys.exit(f"build-deb: not a wheel in the wheelhouse: {sorted(p.name for p in wheels.iterdir())}")
locks = {"requirements.txt": [], "requirements-no-deps.txt": []}
for whl in sorted(wheels.glob("*.whl")):
    name, version = whl.name.split("-")[:2]
    digest = hashlib.sha256(whl.read_bytes()).hexdigest()
    line = f"{name}=={version} --hash=sha256:{digest}"
    locks["requirements-no-deps.txt" if whl.name in no_deps else "requirements.txt"].append(line)
header = "# Every wheel of /opt/station/wheels, pinned (packaging/build-deb.sh); the postinst installs them with\n" \
         "# pip install --no-index --require-hashes.\n"
for name, lines in locks.items():
    (wheels / name).write_text(header + "\n".join(lines) + "\n")
PYEOF
# The Debian packages of the libraries the wheels' ELF files need and do not bundle (what dpkg-shlibdeps does for a
# package's own binaries): NEEDED sonames (readelf), less those inside a wheel, found with ldconfig, owned per dpkg -S.
# shellcheck disable=SC2046
add_depends $("$PY" - "$WHEELS" <<'PYEOF'
import os, re, subprocess, sys, tempfile, zipfile
from pathlib import Path
cache, triplet = {}, getattr(sys.implementation, "_multiarch", "")
for line in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout.splitlines()[1:]:
    m = re.match(r"\s*(\S+) \(.*\) => (\S+)", line)
    if m and (m.group(1) not in cache or triplet in m.group(2) and triplet not in cache[m.group(1)]):
        cache[m.group(1)] = m.group(2)
bundled, needed = set(), set()
with tempfile.TemporaryDirectory() as tmp:
    for whl in Path(sys.argv[1]).glob("*.whl"):
        with zipfile.ZipFile(whl) as z:
            for info in z.infolist():
                base = os.path.basename(info.filename)
                if not re.search(r"\.so(\.|$)", base) or info.is_dir():
                    continue
                bundled.add(base)
                path = z.extract(info, tmp)
                dyn = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
                needed.update(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dyn))
                os.unlink(path)
packages = set()
for soname in sorted(needed - bundled):
    if soname not in cache:
        sys.exit(f"build-deb: a wheel needs {soname}, which is not installed here: install its Debian package")
    path = cache[soname]
    for candidate in (path, os.path.realpath(path), re.sub(r"^/usr/", "/", path), "/usr" + path):
        found = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if found.returncode == 0:
            packages.add(found.stdout.split(":")[0].split(",")[0].strip())
            break
    else:
        sys.exit(f"build-deb: no Debian package owns {path} ({soname}), which a wheel needs")
print(" ".join(sorted(packages)))
PYEOF
)
# manylinux_2_34 wheels (cryptography, nbis-py) need glibc 2.34: say so, as dpkg-shlibdeps would version libc6.
# (A wheel with several tags needs the oldest of them; the package needs the newest of those.)
GLIBC=$(find "$WHEELS" -name '*.whl' -printf '%f\n' | sed 's/manylinux2014/manylinux_2_17/g' \
  | awk '{ m = 0; s = $0
           while (match(s, /manylinux_2_[0-9]+/)) {
             v = substr(s, RSTART + 12, RLENGTH - 12) + 0; if (m == 0 || v < m) m = v; s = substr(s, RSTART + RLENGTH)
           }
           if (m > max) max = m } END { if (max) print max }')
if [ -n "$GLIBC" ]; then
  DEPENDS=$(printf '%s' "$DEPENDS" | sed -E "s/(^|, )libc6(,|\$)/\1libc6 (>= 2.$GLIBC)\2/")
  case ", $DEPENDS" in *", libc6 "*) ;; *) DEPENDS="$DEPENDS, libc6 (>= 2.$GLIBC)" ;; esac
fi

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
chmod 0640 "$PKG/etc/station/station.toml"

# 5. Control files.
INSTALLED_KB=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: station
Version: $VERSION
Architecture: $ARCH
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
 This package installs the source under /opt/station/src, the wheels of
 every Python dependency under /opt/station/wheels, a hardened systemd
 unit (station.service), the system user "station" and /var/lib/station.
 Its postinst makes /opt/station/venv from those wheels with pip
 --no-index: the install needs no network and no compiler.
CONTROL
echo /etc/station/station.toml > "$PKG/DEBIAN/conffiles"
for s in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$s" "$PKG/DEBIAN/$s"
done
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
chmod 0644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/conffiles" "$PKG/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB="$OUT/station_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Z"$COMPRESS" -z"$COMPRESS_LEVEL" --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
if [ "${LINTIAN:-1}" = 0 ]; then
  :
elif command -v lintian >/dev/null 2>&1; then
  lintian --tag-display-limit 0 "$DEB" >&2 || true
else
  echo "build-deb: lintian not installed: not checked" >&2
fi
