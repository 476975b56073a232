#!/usr/bin/env bash
# provision/machines/libvirt/setup-libvirt-host.sh — make this Linux host able to run the libvirt provider.
#
# Idempotent; run as root. Needs no systemd: where systemd is not PID 1 (containers, CI
# sandboxes) it starts dbus-daemon, virtlogd and libvirtd by hand.
#   * Debian packages: libvirt-daemon-system, libvirt-clients, qemu-system-x86 (or -arm),
#     qemu-utils, dnsmasq-base, dbus, vagrant, vagrant-libvirt, and (for
#     provision/machines/libvirt/build-test-box.sh) debootstrap, e2fsprogs.
#   * daemons: dbus-daemon --system, virtlogd, libvirtd (systemctl where systemd runs).
#   * /dev/kvm readable and writable by libvirt's qemu user (group kvm, mode 0660):
#     otherwise libvirt's capability cache never matches /dev/kvm and libvirt re-probes
#     qemu on every call (bring-ups of 8 minutes instead of 2.5).
#   * a `default` storage pool (dir, /var/lib/libvirt/images), started and autostarted:
#     vagrant-libvirt puts box and machine volumes there.
#   * libvirt's own `default` NAT network is left alone if it exists, but never started by
#     this script: the cluster's VMs use only isolated networks.
#
# Usage:
#   provision/machines/libvirt/setup-libvirt-host.sh            install what is missing and start the daemons
#   provision/machines/libvirt/setup-libvirt-host.sh --check    change nothing; exit 0 when the host is ready
#   provision/machines/libvirt/setup-libvirt-host.sh --no-apt   do not install packages (fail if any is missing)
#
# Exit codes: 0 ready; 2 bad arguments; 3 this host cannot run libvirt/qemu at all (not
# Linux, not root, packages cannot be installed, the daemon does not start): the reason is
# the last line on stderr, starting with "cannot run libvirt: ".
set -uo pipefail

CHECK=0
APT=1
for a in "$@"; do
  case "$a" in
    --check) CHECK=1 ;;
    --no-apt) APT=0 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-libvirt-host.sh: unknown argument '$a' (allowed: --check, --no-apt, --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[libvirt-host] %s\n' "$*" >&2; }
cannot() { printf 'cannot run libvirt: %s\n' "$*" >&2; exit 3; }

[ "$(uname -s)" = Linux ] || cannot "libvirt with qemu needs Linux (this is $(uname -s))"
[ "$(id -u)" = 0 ] || cannot "this setup needs root (it installs packages and starts libvirtd); run it with sudo"

case "$(uname -m)" in
  x86_64) QEMU_PKG=qemu-system-x86; QEMU_BIN=qemu-system-x86_64 ;;
  aarch64) QEMU_PKG=qemu-system-arm; QEMU_BIN=qemu-system-aarch64 ;;
  *) cannot "no qemu system emulator package is known for $(uname -m)" ;;
esac

PACKAGES=(libvirt-daemon-system libvirt-clients "$QEMU_PKG" qemu-utils dnsmasq-base dbus iptables vagrant vagrant-libvirt debootstrap e2fsprogs)
missing=()
for p in "${PACKAGES[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$CHECK" = 1 ]; then cannot "packages missing: ${missing[*]} (run provision/machines/libvirt/setup-libvirt-host.sh without --check)"; fi
  if [ "$APT" = 0 ]; then cannot "packages missing and --no-apt given: ${missing[*]}"; fi
  command -v apt-get >/dev/null || cannot "packages missing (${missing[*]}) and this is not a Debian-like system (no apt-get): install libvirt, qemu, vagrant and vagrant-libvirt yourself"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    cannot "apt-get install ${missing[*]} failed"
  fi
fi
command -v "$QEMU_BIN" >/dev/null || cannot "$QEMU_BIN is not on PATH after installing $QEMU_PKG"

systemd_running() { [ -d /run/systemd/system ]; }
running() { pgrep -x "$1" >/dev/null 2>&1; }

start_by_hand() {
  # dbus first: libvirtd talks to it (and to firewalld/polkit through it) when it is there.
  if ! running dbus-daemon || [ ! -S /run/dbus/system_bus_socket ]; then
    [ "$CHECK" = 1 ] && cannot "dbus-daemon is not running"
    mkdir -p /run/dbus
    rm -f /run/dbus/pid
    dbus-uuidgen --ensure 2>/dev/null || true
    say "starting dbus-daemon --system"
    dbus-daemon --system --fork || cannot "dbus-daemon --system did not start"
  fi
  if ! running virtlogd; then
    [ "$CHECK" = 1 ] && cannot "virtlogd is not running"
    say "starting virtlogd"
    virtlogd -d || cannot "virtlogd did not start"
  fi
  if ! running libvirtd; then
    [ "$CHECK" = 1 ] && cannot "libvirtd is not running"
    say "starting libvirtd"
    libvirtd -d || cannot "libvirtd did not start"
  fi
}

if systemd_running; then
  for unit in virtlogd libvirtd; do
    if ! systemctl is-active --quiet "$unit"; then
      [ "$CHECK" = 1 ] && cannot "$unit is not active"
      say "systemctl start $unit"
      systemctl start "$unit" || cannot "systemctl start $unit failed: see journalctl -u $unit"
    fi
  done
else
  start_by_hand
fi

export LIBVIRT_DEFAULT_URI="${LIBVIRT_DEFAULT_URI:-qemu:///system}"
ok=0
for _ in $(seq 1 50); do
  if virsh version >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || cannot "libvirtd runs but \`virsh --connect $LIBVIRT_DEFAULT_URI version\` fails: $(virsh version 2>&1 | tail -1)"

# /dev/kvm for libvirt's qemu user. It may exist and still be unusable for guests (a
# paravirtual flavour); the provider then uses driver "qemu" anyway, but libvirt must be
# able to open it to keep its capability cache stable.
if [ -e /dev/kvm ]; then
  qemu_user=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' /etc/libvirt/qemu.conf | tail -1)
  qemu_user=${qemu_user:-libvirt-qemu}
  if id "$qemu_user" >/dev/null 2>&1 && ! su -s /bin/sh -c 'test -r /dev/kvm -a -w /dev/kvm' "$qemu_user" 2>/dev/null; then
    [ "$CHECK" = 1 ] && cannot "/dev/kvm is not readable and writable by $qemu_user"
    say "giving /dev/kvm to group kvm, mode 0660 (for $qemu_user)"
    getent group kvm >/dev/null || groupadd -r kvm
    groups_of=$(id -nG "$qemu_user")
    grep -qw kvm <<<"$groups_of" || usermod -aG kvm "$qemu_user"
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
  fi
fi

# The default storage pool.
if ! virsh pool-info default >/dev/null 2>&1; then
  [ "$CHECK" = 1 ] && cannot "no storage pool named default"
  say "defining storage pool default (/var/lib/libvirt/images)"
  mkdir -p /var/lib/libvirt/images
  virsh pool-define-as default dir --target /var/lib/libvirt/images >/dev/null || cannot "virsh pool-define-as default failed"
fi
# (grep reads a variable, not a pipe: with pipefail, grep -q closing early fails virsh)
pool_info=$(virsh pool-info default 2>/dev/null)
if ! grep -Eq '^State:[[:space:]]+running' <<<"$pool_info"; then
  [ "$CHECK" = 1 ] && cannot "storage pool default is not running"
  virsh pool-build default >/dev/null 2>&1 || true
  virsh pool-start default >/dev/null || cannot "virsh pool-start default failed"
fi
virsh pool-autostart default >/dev/null 2>&1 || true

say "ready: $(virsh version 2>/dev/null | grep -E 'Running hypervisor|Using API' | tr -s ' ' | paste -sd ';' -)"
exit 0
