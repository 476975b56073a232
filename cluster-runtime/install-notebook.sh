#!/usr/bin/env bash
# Installs JupyterLab's packages on node 1, offline, beside the runtime venv (never into
# it): runs ON the node as the owner of ROOT, after install.sh made ROOT/venv.
#
#   install-notebook.sh ROOT NOTEBOOK_TAR
#
# The notebook bundle holds notebook.lock (JupyterLab, ipykernel, nbclient, locked with the
# runtime's lock as a constraint) and the wheels of what the runtime's own lock lacks. They
# go into a prefix, ROOT/notebook/prefix-<id>, with the runtime venv's own pip
# (--no-index --require-hashes --no-deps); a package the runtime venv already holds (one of
# runtime.packages) is not installed again: the runtime's copy serves. JupyterLab and the
# kernel then run on ROOT/venv/bin/python with the prefix on PYTHONPATH (the prefix adds
# packages, it replaces none), so the kernel imports the very Dask the workers run.
# Writes the kernel spec "dask-cluster" (the runtime's Python, the connection profile) and
# PREFIX/site-path, then points ROOT/notebook/current at the prefix. The same bundle
# already installed is a fast no-op.
#
# Exit codes: 0 installed or already there; 2 bad arguments; 1 otherwise.
set -euo pipefail

die() { echo "install-notebook.sh: $2" >&2; exit "$1"; }

[[ $# -eq 2 ]] || die 2 "usage: install-notebook.sh ROOT NOTEBOOK_TAR"
ROOT=$(cd "$1" && pwd -P) || die 2 "$1 is not a folder: install the runtime first (cdktf deploy)"
TAR=$2
PY="$ROOT/venv/bin/python"
[[ -x $PY ]] || die 2 "$PY is missing: the runtime is not installed on this node (cdktf deploy)"
[[ -f $TAR ]] || die 2 "$TAR does not exist: copy the notebook bundle to the node first"

ID=$(tar -xOf "$TAR" manifest.json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["bundleId"])') || die 2 "$TAR is not a notebook bundle (no manifest.json)"
[[ $ID =~ ^[0-9a-f]{16}$ ]] || die 2 "the manifest of $TAR has a malformed bundleId '$ID'"

BASE="$ROOT/notebook"
PREFIX="$BASE/prefix-$ID"
mkdir -p "$BASE"
exec 9>"$BASE/.install.lock"
flock 9

if [[ -f $PREFIX/.dvc-complete && $(readlink "$BASE/current" 2>/dev/null) == "prefix-$ID" ]]; then
  echo "notebook bundle $ID already installed in $PREFIX"
  exit 0
fi

started=$SECONDS
BUNDLE="$BASE/bundle-$ID"
rm -rf "$BUNDLE" "$PREFIX"
mkdir -p "$BUNDLE"
tar -xf "$TAR" -C "$BUNDLE" --no-same-owner

# What to install: the lock's entries the runtime venv does not already hold, with their
# hashes (pip's --require-hashes), as requirement lines.
"$PY" - "$BUNDLE/notebook.lock" "$BUNDLE/extras.txt" <<'PYEXTRAS'
import importlib.metadata, re, sys
text = open(sys.argv[1], encoding="utf-8").read().replace("\\\n", " ")
out = []
for line in text.splitlines():
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(.*)$", line.strip())
    if not m:
        continue
    name, version, rest = m.groups()
    try:
        have = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        have = None
    if have is None:
        hashes = " ".join(h for h in rest.split() if h.startswith("--hash="))
        out.append(f"{name}=={version} {hashes}")
    elif have != version:
        print(f"{name}: the runtime's {have} serves (the notebook lock has {version})")
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(out) + "\n")
PYEXTRAS

PIP_CONFIG_FILE=/dev/null "$PY" -m pip install --isolated --no-index --find-links "$BUNDLE/wheelhouse" \
  --require-hashes --only-binary=:all: --no-deps --disable-pip-version-check --no-warn-script-location --quiet \
  --prefix "$PREFIX" -r "$BUNDLE/extras.txt"

# Where the prefix's packages are, for PYTHONPATH (pure and platform-specific, once each).
"$PY" -c '
import sys, sysconfig
v = {"base": sys.argv[1], "platbase": sys.argv[1]}
paths = dict.fromkeys([sysconfig.get_path("purelib", vars=v), sysconfig.get_path("platlib", vars=v)])
print(":".join(paths))' "$PREFIX" >"$PREFIX/site-path"
SITE=$(<"$PREFIX/site-path")
PYTHONPATH=$SITE "$PY" -c 'import jupyterlab, ipykernel, nbclient' || die 1 "the notebook packages in $PREFIX do not import (see above): remove $PREFIX and run again"

# The kernel: the runtime's Python, the prefix on its path, the cluster's connection profile.
KERNEL="$PREFIX/share/jupyter/kernels/dask-cluster"
mkdir -p "$KERNEL"
"$PY" - "$KERNEL/kernel.json" "$PY" "$SITE" "$ROOT" <<'PYKERNEL'
import json, sys
out, py, site, root = sys.argv[1:]
json.dump(
    {
        "argv": [py, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (dask cluster)",
        "language": "python",
        "env": {"PYTHONPATH": site, "DASK_CONFIG": f"{root}/etc/client", "DVC_ROOT": root, "DVC_DATA": f"{root}/data", "PYTHONUNBUFFERED": "1"},
        "metadata": {"debugger": False},
    },
    open(out, "w", encoding="utf-8"),
    indent=2,
)
PYKERNEL

# The nodes have no route out: JupyterLab must not offer to fetch news or look for updates.
mkdir -p "$PREFIX/share/jupyter/lab/settings"
cat >"$PREFIX/share/jupyter/lab/settings/overrides.json" <<'JSON'
{ "@jupyterlab/apputils-extension:notification": { "checkForUpdates": false, "fetchNews": "false" } }
JSON

installed=$(grep -c . "$BUNDLE/extras.txt" || true)
echo "$ID" >"$PREFIX/.dvc-complete"
ln -sfn "prefix-$ID" "$BASE/.current.$$"
mv -T "$BASE/.current.$$" "$BASE/current"
for old in "$BASE"/prefix-* "$BASE"/bundle-*; do
  [[ $old == "$PREFIX" ]] && continue
  rm -rf "$old"
done
echo "installed notebook bundle $ID ($installed packages) in $((SECONDS - started)) s"
