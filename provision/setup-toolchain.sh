#!/usr/bin/env bash
# provision/setup-toolchain.sh — offline Terraform toolchain for dask-vm-cluster.
#
# Makes `terraform init` / `cdktf deploy` work without the Terraform registry:
#   * Terraform CLI: uses `terraform` (>= 1.5) or `tofu` from PATH; otherwise
#     builds OpenTofu from the Go module proxy into $CACHE/toolchain/bin/tofu.
#   * hashicorp/null: builds the pinned terraform-provider-null commit (2.2.0,
#     plugin protocol 5) from the Go module proxy and lays it out as a
#     filesystem mirror for registry.terraform.io and registry.opentofu.org.
#   * Writes $CACHE/toolchain/terraformrc that points at the mirror.
#
# Everything built lives under ${DVC_CACHE_DIR:-$HOME/.cache/dask-vm-cluster}/toolchain
# (never inside the repository). Go's default module cache is shared.
#
# Usage:
#   provision/setup-toolchain.sh              set up (idempotent) and print a summary
#   provision/setup-toolchain.sh --install    also symlink a built tofu into /usr/local/bin (root only)
#   provision/setup-toolchain.sh --with-tofu  build and use OpenTofu even if terraform/tofu is on PATH
#   eval "$(provision/setup-toolchain.sh --print-env)"
#                                             set up, then print only the export lines on stdout
#                                             (progress goes to stderr)
set -euo pipefail

# ---------------------------------------------------------------------------
# Pins. Changing a pin changes the stamp, so the next run rebuilds.
# ---------------------------------------------------------------------------
# terraform-provider-null v2.1.2 + 8 commits ("2.2.0 (Unreleased)" in its
# CHANGELOG), plugin SDK v1, plugin protocol 5. The only post-2.1.2 commit the
# Go module proxy serves for this module path (v2/v3 tags are not valid
# module versions there).
NULL_MODULE="github.com/terraform-providers/terraform-provider-null"
NULL_MODULE_VERSION="v1.0.1-0.20191204185112-e5c592237f62"
NULL_PROVIDER_VERSION="2.2.0"
NULL_MIRROR_HOSTS=("registry.terraform.io" "registry.opentofu.org")

# OpenTofu fallback, only built when neither terraform (>= 1.5) nor tofu is
# available. Newest version the module proxy serves (go.mod: go 1.26.6; builds
# with Go 1.26.8 here).
TOFU_MODULE="github.com/opentofu/opentofu"
TOFU_VERSION="v1.12.6"

MIN_TERRAFORM_VERSION="1.5.0"

# ---------------------------------------------------------------------------
CACHE="${DVC_CACHE_DIR:-$HOME/.cache/dask-vm-cluster}"
TOOLCHAIN="$CACHE/toolchain"
BIN_DIR="$TOOLCHAIN/bin"
MIRROR_DIR="$TOOLCHAIN/providers"
BUILD_DIR="$TOOLCHAIN/build"
STAMP_DIR="$TOOLCHAIN/stamps"
RC_FILE="$TOOLCHAIN/terraformrc"
CLI_FILE="$TOOLCHAIN/cli"        # absolute path of the chosen CLI, read by test/helpers/terraform.ts

PRINT_ENV=0
INSTALL=0
WITH_TOFU=0

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

for arg in "$@"; do
  case "$arg" in
    --print-env) PRINT_ENV=1 ;;
    --install) INSTALL=1 ;;
    --with-tofu) WITH_TOFU=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup-toolchain: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

# Progress always goes to stderr so that --print-env's stdout stays eval-able.
log() { printf '[setup-toolchain] %s\n' "$*" >&2; }
die() { printf '[setup-toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

# version_ge A B: true if dotted version A >= B.
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# ---------------------------------------------------------------------------
# Platform
# ---------------------------------------------------------------------------
case "$(uname -s)" in
  Linux) TF_OS=linux ;;
  Darwin) TF_OS=darwin ;;
  *) die "unsupported OS $(uname -s) (need Linux or macOS)" ;;
esac
case "$(uname -m)" in
  x86_64|amd64) TF_ARCH=amd64 ;;
  aarch64|arm64) TF_ARCH=arm64 ;;
  *) die "unsupported CPU architecture $(uname -m) (need x86_64/amd64 or aarch64/arm64)" ;;
esac
PLATFORM="${TF_OS}_${TF_ARCH}"

mkdir -p "$BIN_DIR" "$MIRROR_DIR" "$BUILD_DIR" "$STAMP_DIR"

TMP_DIRS=()
cleanup() {
  local d
  for d in "${TMP_DIRS[@]+"${TMP_DIRS[@]}"}"; do
    [ -n "$d" ] && [ -d "$d" ] && { chmod -R u+w "$d" 2>/dev/null || true; rm -rf "$d"; }
  done
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Go helpers
# ---------------------------------------------------------------------------
require_go() {
  command -v go >/dev/null 2>&1 \
    || die "Go is required to build $1 but 'go' is not on PATH. Install Go (e.g. apt-get install golang-go, or https://go.dev/dl) and re-run."
}

# go_env: run go with a predictable configuration. Module downloads go through
# the normal GOPROXY and the shared default module cache. GOTOOLCHAIN=local
# (unless the caller set it) so a too-old Go fails loudly instead of trying to
# download another toolchain.
go_env() {
  env GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
      CGO_ENABLED=0 GOOS="$TF_OS" GOARCH="$TF_ARCH" "$@"
}

# module_dir MODULE@VERSION: download into the module cache, print its Dir.
module_dir() {
  local json dir err
  json="$(cd "$BUILD_DIR" && go_env go mod download -json "$1" 2>&1)" \
    || die "go mod download $1 failed:
$json
(The Go module proxy must serve $1; check GOPROXY=$(go env GOPROXY).)"
  err="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p')"
  [ -z "$err" ] || die "go mod download $1: $err"
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $1 did not report a module directory:
$json"
  printf '%s\n' "$dir"
}

# new_tmp_dir: create a temp dir under the build dir (removed on exit) and
# store its path in $NEW_TMP. Not meant for $(...): the cleanup list must be
# updated in this shell.
new_tmp_dir() {
  NEW_TMP="$(mktemp -d "$BUILD_DIR/src.XXXXXX")"
  TMP_DIRS+=("$NEW_TMP")
}

# writable_copy SRC DEST: copy a (read-only) module-cache dir into DEST.
writable_copy() {
  cp -R "$1/." "$2/"
  chmod -R u+w "$2"
  # Module zips keep vendor/modules.txt but not the vendored code; drop it so
  # Go resolves dependencies from the module cache.
  rm -rf "$2/vendor"
}

stamp_matches() { [ -f "$STAMP_DIR/$1" ] && [ "$(cat "$STAMP_DIR/$1")" = "$2" ]; }
write_stamp() { printf '%s\n' "$2" >"$STAMP_DIR/$1.tmp" && mv -f "$STAMP_DIR/$1.tmp" "$STAMP_DIR/$1"; }

# ---------------------------------------------------------------------------
# 1. hashicorp/null provider → filesystem mirror
# ---------------------------------------------------------------------------
NULL_BINARY="$BUILD_DIR/terraform-provider-null_v${NULL_PROVIDER_VERSION}_${PLATFORM}"
NULL_STAMP="$NULL_MODULE@$NULL_MODULE_VERSION $NULL_PROVIDER_VERSION $PLATFORM"

if [ -x "$NULL_BINARY" ] && stamp_matches null-provider "$NULL_STAMP"; then
  log "hashicorp/null $NULL_PROVIDER_VERSION: already built ($NULL_MODULE@$NULL_MODULE_VERSION)"
else
  require_go "the hashicorp/null provider"
  log "hashicorp/null $NULL_PROVIDER_VERSION: building $NULL_MODULE@$NULL_MODULE_VERSION for $PLATFORM with $(go version | awk '{print $3}') (about 1-2 minutes the first time)"
  start=$SECONDS
  src="$(module_dir "$NULL_MODULE@$NULL_MODULE_VERSION")"
  new_tmp_dir; work="$NEW_TMP"
  writable_copy "$src" "$work"
  rm -f "$STAMP_DIR/null-provider"
  (cd "$work" && go_env go build -trimpath -ldflags "-s -w" -o "$NULL_BINARY.tmp" .) \
    || die "building the null provider failed (see the Go output above)"
  mv -f "$NULL_BINARY.tmp" "$NULL_BINARY"
  write_stamp null-provider "$NULL_STAMP"
  log "hashicorp/null $NULL_PROVIDER_VERSION: built in $((SECONDS - start))s"
fi

# Lay out the mirror (unpacked layout: HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION).
# Stale versions of hashicorp/null are removed so the mirror only offers the pinned one.
NULL_PROVIDER_PATHS=()
for host in "${NULL_MIRROR_HOSTS[@]}"; do
  type_dir="$MIRROR_DIR/$host/hashicorp/null"
  dest_dir="$type_dir/$NULL_PROVIDER_VERSION/$PLATFORM"
  dest="$dest_dir/terraform-provider-null_v$NULL_PROVIDER_VERSION"
  if [ -d "$type_dir" ]; then
    for v in "$type_dir"/*; do
      [ "$(basename "$v")" = "$NULL_PROVIDER_VERSION" ] || { log "removing stale mirror entry $v"; rm -rf "$v"; }
    done
  fi
  if [ ! -x "$dest" ] || ! cmp -s "$NULL_BINARY" "$dest"; then
    mkdir -p "$dest_dir"
    cp -f "$NULL_BINARY" "$dest.tmp"
    chmod 0755 "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
    log "mirror: installed $dest"
  fi
  NULL_PROVIDER_PATHS+=("$dest")
done

# ---------------------------------------------------------------------------
# 2. CLI configuration
# ---------------------------------------------------------------------------
include_list=""
for host in "${NULL_MIRROR_HOSTS[@]}"; do
  include_list+="${include_list:+, }\"$host/hashicorp/null\""
done
rc_content="# Generated by provision/setup-toolchain.sh — do not edit; re-run the script instead.
disable_checkpoint = true

provider_installation {
  filesystem_mirror {
    path    = \"$MIRROR_DIR\"
    include = [$include_list]
  }
  direct {
    exclude = [$include_list]
  }
}"
if [ -f "$RC_FILE" ] && [ "$(cat "$RC_FILE")" = "$rc_content" ]; then
  log "CLI config: $RC_FILE is up to date"
else
  printf '%s\n' "$rc_content" >"$RC_FILE.tmp"
  mv -f "$RC_FILE.tmp" "$RC_FILE"
  log "CLI config: wrote $RC_FILE"
fi

# ---------------------------------------------------------------------------
# 3. Terraform CLI: terraform (>= 1.5) or tofu from PATH, else build OpenTofu.
# ---------------------------------------------------------------------------
cli_version() {  # cli_version BINARY → prints x.y.z or nothing
  local out
  out="$("$1" version -json 2>/dev/null)" || out=""
  out="$(printf '%s\n' "$out" | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p' | head -n1)"
  if [ -z "$out" ]; then
    out="$("$1" version 2>/dev/null | head -n1 | sed -n 's/^[A-Za-z]* v\{0,1\}\([0-9][0-9.]*\).*/\1/p')" || out=""
  fi
  printf '%s\n' "$out"
}

TOFU_BINARY="$BIN_DIR/tofu"
TOFU_STAMP="$TOFU_MODULE@$TOFU_VERSION $PLATFORM"

build_tofu() {
  if [ -x "$TOFU_BINARY" ] && stamp_matches tofu "$TOFU_STAMP"; then
    log "OpenTofu ${TOFU_VERSION}: already built at $TOFU_BINARY"
    return
  fi
  require_go "OpenTofu"
  log "OpenTofu ${TOFU_VERSION}: building $TOFU_MODULE/cmd/tofu for $PLATFORM with $(go version | awk '{print $3}') (several minutes the first time)"
  local start=$SECONDS src work ver
  src="$(module_dir "$TOFU_MODULE@$TOFU_VERSION")"
  new_tmp_dir; work="$NEW_TMP"
  writable_copy "$src" "$work"
  ver="${TOFU_VERSION#v}"
  rm -f "$STAMP_DIR/tofu"
  # OpenTofu's go.mod has replace directives, so `go install pkg@version`
  # refuses it; build inside the module instead. version.dev=no marks it as a
  # release build (no "-dev" suffix).
  (cd "$work" && go_env go build -trimpath \
      -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
      -o "$TOFU_BINARY.tmp" ./cmd/tofu) \
    || die "building OpenTofu $TOFU_VERSION failed (see the Go output above). It needs the Go version named in its go.mod; install a newer Go or a terraform >= $MIN_TERRAFORM_VERSION binary."
  mv -f "$TOFU_BINARY.tmp" "$TOFU_BINARY"
  write_stamp tofu "$TOFU_STAMP"
  log "OpenTofu ${TOFU_VERSION}: built in $((SECONDS - start))s → $TOFU_BINARY ($(cli_version "$TOFU_BINARY"))"
}

CLI_PATH=""
CLI_KIND=""
if [ "$WITH_TOFU" = 0 ] && command -v terraform >/dev/null 2>&1; then
  tf="$(command -v terraform)"
  tf_ver="$(cli_version "$tf")"
  if [ -n "$tf_ver" ] && version_ge "$tf_ver" "$MIN_TERRAFORM_VERSION"; then
    CLI_PATH="$tf"; CLI_KIND=terraform
  else
    log "ignoring $tf (version '${tf_ver:-unknown}' < $MIN_TERRAFORM_VERSION)"
  fi
fi
if [ -z "$CLI_PATH" ] && [ "$WITH_TOFU" = 0 ] && command -v tofu >/dev/null 2>&1; then
  CLI_PATH="$(command -v tofu)"; CLI_KIND=tofu
fi
if [ -z "$CLI_PATH" ]; then
  [ "$WITH_TOFU" = 1 ] && log "--with-tofu: building OpenTofu regardless of PATH"
  build_tofu
  CLI_PATH="$TOFU_BINARY"; CLI_KIND=tofu
  if [ "$INSTALL" = 1 ]; then
    if [ "$(id -u)" = 0 ]; then
      ln -sfn "$TOFU_BINARY" /usr/local/bin/tofu
      log "--install: symlinked /usr/local/bin/tofu -> $TOFU_BINARY"
    else
      log "--install: not root, skipping /usr/local/bin/tofu symlink; add $BIN_DIR to PATH instead"
    fi
  fi
elif [ "$INSTALL" = 1 ]; then
  log "--install: nothing to install ($CLI_KIND already on PATH at $CLI_PATH)"
fi
CLI_VERSION="$(cli_version "$CLI_PATH")"
[ -n "$CLI_VERSION" ] || die "$CLI_PATH does not run ('$CLI_PATH version' failed)"
printf '%s\n' "$CLI_PATH" >"$CLI_FILE.tmp" && mv -f "$CLI_FILE.tmp" "$CLI_FILE"

# ---------------------------------------------------------------------------
# 4. Summary / environment
# ---------------------------------------------------------------------------
tofu_on_path_is_ours() {
  local on_path
  on_path="$(command -v tofu 2>/dev/null || true)"
  [ -n "$on_path" ] && [ "$on_path" -ef "$CLI_PATH" ]
}

env_lines=("export TF_CLI_CONFIG_FILE=$(printf '%q' "$RC_FILE")")
if [ "$CLI_KIND" = tofu ]; then
  env_lines+=("export TERRAFORM_BINARY_NAME=tofu")
  # PATH only needs extending when the tofu found on PATH is not the one we use
  # (-ef follows symlinks, e.g. /usr/local/bin/tofu from --install).
  if ! tofu_on_path_is_ours; then
    env_lines+=("export PATH=$(printf '%q' "$BIN_DIR"):\"\$PATH\"")
  fi
fi
env_lines+=("export CHECKPOINT_DISABLE=1")
# cdktf runs `terraform providers lock` after the first init; that command ignores the
# CLI config's filesystem mirror and asks the registry. The env form of the flag
# --skip-provider-lock keeps plain `cdktf deploy` working offline.
env_lines+=("export CDKTF_SKIP_PROVIDER_LOCK=true")

if [ "$PRINT_ENV" = 1 ]; then
  printf '%s\n' "${env_lines[@]}"
  exit 0
fi

echo
echo "Toolchain ready ($PLATFORM):"
echo "  CLI:       $CLI_PATH ($CLI_KIND $CLI_VERSION)"
for p in "${NULL_PROVIDER_PATHS[@]}"; do
  echo "  provider:  $p"
done
echo "  config:    $RC_FILE"
if [ "$CLI_KIND" = tofu ] && ! tofu_on_path_is_ours; then
  echo "  note:      add $BIN_DIR to PATH (or re-run as root with --install)"
fi
echo
echo "cdktf: pass --skip-provider-lock to cdktf deploy/destroy/diff. Otherwise its first run"
echo "  calls '$CLI_KIND providers lock', which ignores the filesystem mirror and needs the registry."
echo
echo "Use it in your shell (or: eval \"\$(provision/setup-toolchain.sh --print-env)\"):"
printf '  %s\n' "${env_lines[@]}"
