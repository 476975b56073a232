#!/usr/bin/env bash
# Installs a runtime bundle on a node, offline: runs ON the node as the owner of ROOT.
#
#   install.sh ROOT BUNDLE_TAR PYTHON_MAJOR_MINOR [PYCACHE_TAR]
#
# Extracts the bundle to ROOT/bundles/<id>, creates ROOT/venv-<id> with pythonX.Y, fills it
# from the bundle's wheelhouse with pip (--no-index --require-hashes: the exact bits of the
# lock, no network), copies the dask_vm_runtime package into it, then points ROOT/venv at
# it with an atomic symlink swap, writes ROOT/bundle-id and removes older venvs/bundles.
# PYCACHE_TAR: byte-code made on the host for this bundle (checked-hash .pyc files, paths
# relative to site-packages); without it the node compiles what the services import.
# The same bundle already installed and intact is a fast no-op.
#
# Exit codes: 0 installed or already there; 2 bad arguments; 3 the node's Python (or CPU)
# cannot run this bundle (the message says what was found and how to fix it); 1 otherwise.
set -euo pipefail

die() { echo "install.sh: $2" >&2; exit "$1"; }

[[ $# -eq 3 || $# -eq 4 ]] || die 2 "usage: install.sh ROOT BUNDLE_TAR PYTHON_MAJOR_MINOR [PYCACHE_TAR] (e.g. install.sh /opt/dvc /tmp/bundle-0123.tar 3.11)"
ROOT=$1
TAR=$2
PY=$3
PYCACHE=${4:-}
[[ -z $PYCACHE || -f $PYCACHE ]] || die 2 "byte-code tar $PYCACHE does not exist: copy it to the node first, or leave it out"

[[ $PY =~ ^3\.[0-9]+$ ]] || die 2 "PYTHON_MAJOR_MINOR must look like 3.11, got '$PY'"
[[ -f $TAR ]] || die 2 "bundle $TAR does not exist: copy the bundle built on the host to the node first"

# Which Pythons this node does have, for the message when the wanted one is missing.
pythons_found() {
  local found="" cand v
  for cand in python3 $(compgen -c python3. 2>/dev/null | grep -E '^python3\.[0-9]+$' | sort -u); do
    v=$("$cand" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) || continue
    found+="${found:+, }$cand = $v ($(command -v "$cand"))"
  done
  echo "${found:-no python3 at all}"
}

PYBIN="python$PY"
have=$("$PYBIN" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || have=""
if [[ $have != "$PY" ]]; then
  die 3 "this node has no working $PYBIN, which the runtime bundle was locked for (found: $(pythons_found)). Fix: install Python $PY on the node (Debian/Ubuntu: sudo apt-get install $PYBIN ${PYBIN}-venv), or set runtime.python in cluster.config.json to a version the node has and re-lock with: npm run lock -- --python X.Y"
fi

manifest=$(tar -xOf "$TAR" manifest.json 2>/dev/null) || die 2 "$TAR is not a runtime bundle (no manifest.json inside): rebuild it on the host"
read -r BUNDLE_ID BUNDLE_PY BUNDLE_PLATFORM < <("$PYBIN" -c '
import json, sys
m = json.loads(sys.stdin.read())
print(m["bundleId"], m["python"], m["platform"])' <<<"$manifest") || die 2 "the manifest.json of $TAR is not readable: rebuild the bundle on the host"
[[ $BUNDLE_ID =~ ^[0-9a-f]{16}$ ]] || die 2 "the manifest of $TAR has a malformed bundleId '$BUNDLE_ID'"
if [[ $BUNDLE_PY != "$PY" ]]; then
  die 3 "the bundle was built for Python $BUNDLE_PY but Python $PY was asked for: set runtime.python in cluster.config.json, re-lock with npm run lock -- --python $PY and deploy again"
fi
MACHINE=$(uname -m)
if [[ $MACHINE == arm64 ]]; then MACHINE=aarch64; fi
if [[ $BUNDLE_PLATFORM != "$MACHINE" ]]; then
  die 3 "the bundle holds wheels for $BUNDLE_PLATFORM but this node is $MACHINE: set runtime.platform to $MACHINE in cluster.config.json and deploy again"
fi

mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd -P)
# One install at a time per ROOT (a retried stage may overlap a slow one).
exec 9>"$ROOT/.install.lock"
flock 9

VENV_NAME="venv-$BUNDLE_ID"
VENV="$ROOT/$VENV_NAME"
BUNDLE_DIR="$ROOT/bundles/$BUNDLE_ID"

# A venv is intact when it imports the runtime and holds every locked distribution at its
# locked version (importlib.metadata only: importing dask would cost seconds).
venv_intact() {
  "$1/bin/python" - "$2" <<'PYCHECK'
import importlib.metadata, re, sys
import dask_vm_runtime
bad = []
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
    if m:
        try:
            have = importlib.metadata.version(m.group(1))
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have != m.group(2):
            bad.append(f"{m.group(1)}: {have or 'missing'} instead of {m.group(2)}")
if bad:
    sys.exit("not as locked: " + "; ".join(bad))
PYCHECK
}

if [[ -f $ROOT/bundle-id && $(<"$ROOT/bundle-id") == "$BUNDLE_ID" && -L $ROOT/venv && $(readlink "$ROOT/venv") == "$VENV_NAME" &&
      -f $VENV/.dvc-complete && -f $BUNDLE_DIR/requirements.lock ]] && venv_intact "$VENV" "$BUNDLE_DIR/requirements.lock" 2>/dev/null; then
  echo "bundle $BUNDLE_ID already installed in $ROOT/venv"
  exit 0
fi

started=$SECONDS
echo "installing bundle $BUNDLE_ID (Python $PY, $BUNDLE_PLATFORM) into $VENV"

mkdir -p "$ROOT/bundles"
staging="$ROOT/bundles/.staging-$BUNDLE_ID-$$"
rm -rf "$staging"
mkdir -p "$staging"
tar -xf "$TAR" -C "$staging" --no-same-owner
rm -rf "$BUNDLE_DIR"
mv -T "$staging" "$BUNDLE_DIR"

shopt -s nullglob
pip_wheels=("$BUNDLE_DIR"/wheelhouse/pip-*.whl)
shopt -u nullglob
[[ ${#pip_wheels[@]} -eq 1 ]] || die 1 "the bundle's wheelhouse has ${#pip_wheels[@]} pip wheels instead of one: the lock must pin pip (see cluster-runtime/requirements.in); re-lock and rebuild"

# --without-pip: no ensurepip (Debian ships it separately as pythonX.Y-venv) and nothing in
# the venv that the lock does not name; pip comes from the bundle, at its locked version,
# and runs straight from its wheel.
rm -rf "$VENV"
"$PYBIN" -m venv --without-pip "$VENV" || die 3 "$PYBIN -m venv failed: install the venv module (Debian/Ubuntu: sudo apt-get install ${PYBIN}-venv)"
# PIP_CONFIG_FILE=/dev/null and --isolated: no pip.conf or PIP_* variable of the node
# (an index, find-links) takes part; only the wheelhouse does. --no-compile: byte-code is
# written by the services on first import instead (+2 s once), which cuts the install
# from about 15 s to about 5 s.
PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" "${pip_wheels[0]}/pip" install \
  --isolated --no-index --find-links "$BUNDLE_DIR/wheelhouse" \
  --require-hashes --only-binary=:all: --no-deps \
  --no-compile --disable-pip-version-check --no-warn-script-location --quiet \
  -r "$BUNDLE_DIR/requirements.lock"

site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf "$site/dask_vm_runtime"
cp -R "$BUNDLE_DIR/runtime/dask_vm_runtime" "$site/"
venv_intact "$VENV" "$BUNDLE_DIR/requirements.lock" || die 1 "the new venv $VENV is not as the lock says (see above): remove $VENV and run install.sh again"

# Byte-code for what the services, probes and benchmark import, written once here rather
# than by each of them at start (pip's --no-compile above would compile all 2,500 files,
# tests included: 5 × the work). Natively this takes 3 s; on a VM under qemu's software
# emulation it saves each later Python process a minute or more. Forced on even when the
# caller's environment sets PYTHONDONTWRITEBYTECODE.
compiled=$SECONDS
if [[ -n $PYCACHE ]]; then
  tar -xf "$PYCACHE" -C "$site" --no-same-owner || die 1 "$PYCACHE could not be extracted into $site: copy it again, or leave it out"
  echo "byte-code from the host: $(tar -tf "$PYCACHE" | wc -l) files in $((SECONDS - compiled)) s"
else
env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/python" -c '
import dask.cli, dask.array, dask.array.linalg
import distributed, distributed.cli.dask_scheduler, distributed.cli.dask_worker
import distributed.dashboard.scheduler, distributed.dashboard.worker
import dask_vm_runtime.cli, dask_vm_runtime.client, dask_vm_runtime.bench.cli
' || die 1 "the new venv $VENV cannot import Dask (see above): remove $VENV and run install.sh again"
echo "byte-compiled the modules the services import in $((SECONDS - compiled)) s"
fi
echo "$BUNDLE_ID" >"$VENV/.dvc-complete"

# The swap: a new symlink renamed over the old one is atomic, so services starting during
# an install see either the old venv or the new one, never a half-made one.
if [[ -e $ROOT/venv && ! -L $ROOT/venv ]]; then rm -rf "$ROOT/venv"; fi
ln -sfn "$VENV_NAME" "$ROOT/.venv.$$"
mv -T "$ROOT/.venv.$$" "$ROOT/venv"
echo "$BUNDLE_ID" >"$ROOT/.bundle-id.$$"
mv -f "$ROOT/.bundle-id.$$" "$ROOT/bundle-id"

for old in "$ROOT"/venv-* "$ROOT"/bundles/* "$ROOT"/bundles/.staging-*; do
  [[ $old == "$VENV" || $old == "$BUNDLE_DIR" ]] && continue
  rm -rf "$old"
done
echo "installed bundle $BUNDLE_ID in $((SECONDS - started)) s"
