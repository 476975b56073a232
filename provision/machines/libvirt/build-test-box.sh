#!/usr/bin/env bash
# provision/machines/libvirt/build-test-box.sh — a Debian 12 Vagrant box for the libvirt provider, built
# here from Debian packages only (debootstrap; no Vagrant Cloud, no image download).
#
# What is in it: Debian 12 (bookworm) with systemd, openssh-server, sudo, dbus, iproute2,
# python3.11 (the runtime is locked for 3.11; no python3.11-venv: the runtime's venv is made
# --without-pip, which needs only the standard library, and this box proves it), the user vagrant
# (password-less sudo) with an ed25519 key made for this box at build time in
# ~/.ssh/authorized_keys; the private half travels in the box (vagrant_key, 0600, under
# root's ~/.vagrant.d) and the box's Vagrantfile points config.ssh.private_key_path at it.
# Not Vagrant's world-known insecure key: nobody else can log in, and Vagrant has no key to
# replace on first boot (with the insecure key that swap cost 70 s per VM under emulation).
# systemd-networkd doing DHCP on eth*/en* with ClientIdentifier=mac (without it every VM
# made from the box sends the same client id and all of them lease one address), ssh host
# keys and machine-id made at first boot (not shared between VMs).
#
# Boot: direct kernel boot, no bootloader. The box holds vmlinuz and initrd.img beside
# box.img, and its Vagrantfile sets libvirt.kernel/initrd/cmd_line. box.img is a qcow2 of
# a bare ext4 filesystem (no partition table) made with `mkfs.ext4 -d` from the rootfs:
# root=/dev/vda. libvirt's qemu user must read the kernel: when the box folder is not
# reachable by others (root's home is 0700), the box's Vagrantfile copies the two files
# to /var/lib/libvirt/boot (root) or /var/tmp/dvc-boot-<uid> and points there.
#
# Output (cached OUTSIDE the repository, rebuilt only when this script changes):
#   <cache>/boxes/dvc-debian12-<hash>.box   (<cache>: DVC_CACHE_DIR, else $XDG_CACHE_HOME/dask-vm-cluster, else ~/.cache/dask-vm-cluster)
#   <cache>/boxes/dvc-debian12-<hash>.json  (build facts)
# and the .box path as the only line on stdout. Use it in cluster.config.json:
#   "provider": "libvirt", "box": {"name": "dvc/debian12", "url": "<that path>"}
#
# Usage:
#   provision/machines/libvirt/build-test-box.sh            build if not cached; print the .box path
#   provision/machines/libvirt/build-test-box.sh --force    rebuild even if cached
#   provision/machines/libvirt/build-test-box.sh --print    print the path it would have; exit 1 if not built
# Environment: DVC_DEBIAN_MIRROR (default http://deb.debian.org/debian), DVC_CACHE_DIR.
# CPU-heavy (debootstrap, initramfs): on a shared machine run it under
#   flock /tmp/dvc-heavy.lock provision/machines/libvirt/build-test-box.sh
# Needs root (debootstrap, chroot), debootstrap, e2fsprogs (mkfs.ext4 -d), qemu-utils,
# ssh-keygen (openssh-client).
# Exit codes: 0 built or cached; 1 the build failed; 2 bad arguments; 3 missing tools/root.
set -euo pipefail

FORCE=0
PRINT=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --print) PRINT=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-test-box.sh: unknown argument '$a' (allowed: --force, --print, --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[box] %s\n' "$*" >&2; }
need() { printf 'build-test-box.sh: %s\n' "$*" >&2; exit 3; }

SUITE=bookworm
MIRROR="${DVC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DISK_GB=8
# The cache folder by the rule of provision/host/paths.ts cacheDir(); npm run test:vm passes
# DVC_CACHE_DIR from there, so both always agree.
CACHE="${DVC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dask-vm-cluster}/boxes"
HASH=$(sha256sum "$0" | cut -c1-12)
BOX="$CACHE/dvc-debian12-$HASH.box"
FACTS="$CACHE/dvc-debian12-$HASH.json"

if [ "$PRINT" = 1 ]; then
  [ -s "$BOX" ] && { echo "$BOX"; exit 0; }
  echo "no box built yet for this recipe ($BOX)" >&2
  exit 1
fi
if [ "$FORCE" = 0 ] && [ -s "$BOX" ]; then
  say "cached: $BOX"
  echo "$BOX"
  exit 0
fi

[ "$(id -u)" = 0 ] || need "needs root (debootstrap and chroot); run it with sudo"
[ "$(uname -m)" = x86_64 ] || need "builds an x86_64 (amd64) box only; this host is $(uname -m)"
for t in debootstrap mkfs.ext4 qemu-img chroot tar; do
  command -v "$t" >/dev/null || need "$t is missing: sudo apt-get install debootstrap e2fsprogs qemu-utils (or run provision/machines/libvirt/setup-libvirt-host.sh)"
done
mkfs_usage=$(mkfs.ext4 2>&1 || true)
grep -q -- '-d ' <<<"$mkfs_usage" || need "this mkfs.ext4 has no -d (populate from a folder): e2fsprogs >= 1.43 is needed"
command -v ssh-keygen >/dev/null || need "ssh-keygen is missing: sudo apt-get install openssh-client"

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
ROOTFS="$WORK/rootfs"
cleanup() {
  for m in dev/pts dev proc sys; do mountpoint -q "$ROOTFS/$m" 2>/dev/null && umount -l "$ROOTFS/$m"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
started=$(date +%s)
lap() { echo $(( $(date +%s) - started )); }

say "debootstrap $SUITE from $MIRROR (minbase + kernel, ssh, sudo, python3.11)"
INCLUDE=systemd,systemd-sysv,udev,dbus,openssh-server,sudo,iproute2,procps,netbase,python3.11,linux-image-amd64,initramfs-tools,zstd
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -20 "$WORK/debootstrap.log" >&2
  echo "build-test-box.sh: debootstrap failed (log above)" >&2
  exit 1
}
t_debootstrap=$(lap)
say "debootstrap done in ${t_debootstrap} s"

# --- configure the rootfs --------------------------------------------------------------
echo debian > "$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOTFS/etc/hosts"
printf '/dev/vda\t/\text4\tdefaults,noatime\t0\t1\n' > "$ROOTFS/etc/fstab"
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$ROOTFS/etc/apt/sources.list"

# DHCP on every ethernet NIC (eth0: vagrant-libvirt's management network). Vagrant writes
# 50-vagrant-eth1.network for the private address, which sorts first and wins for eth1.
mkdir -p "$ROOTFS/etc/systemd/network"
cat > "$ROOTFS/etc/systemd/network/80-dhcp.network" <<'EOF'
[Match]
Name=eth* en*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
# One client id per NIC (its MAC): VMs cloned from one image must not share a lease.
ClientIdentifier=mac
EOF

# ssh host keys per VM, made on first boot.
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
cat > "$ROOTFS/etc/systemd/system/dvc-ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate this VM's ssh host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
# ed25519 and ecdsa only: an RSA host key takes minutes to generate under qemu emulation.
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
ExecStart=/usr/bin/ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$ROOTFS/etc/ssh/sshd_config.d"
printf 'UseDNS no\nPasswordAuthentication no\nHostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n' > "$ROOTFS/etc/ssh/sshd_config.d/10-vagrant.conf"

# The vagrant user.
cat > "$WORK/in-chroot.sh" <<'EOF'
set -eu
export DEBIAN_FRONTEND=noninteractive
useradd -m -s /bin/bash -U vagrant
echo 'vagrant:vagrant' | chpasswd
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
install -m 0600 -o vagrant -g vagrant /tmp/vagrant.pub /home/vagrant/.ssh/authorized_keys
printf 'vagrant ALL=(ALL) NOPASSWD: ALL\nDefaults:vagrant !requiretty\n' > /etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant
systemctl enable systemd-networkd.service ssh.service dvc-ssh-hostkeys.service
# Nothing waits for a network that only Vagrant configures (eth1 has no DHCP).
systemctl mask systemd-networkd-wait-online.service
systemctl set-default multi-user.target
# A small initramfs with just what a virtio VM needs to mount its root (MODULES=most makes
# a 30 MB one whose unpacking and module loading cost minutes under emulation).
sed -i 's/^MODULES=.*/MODULES=list/' /etc/initramfs-tools/initramfs.conf
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >> /etc/initramfs-tools/modules
update-initramfs -u -k all
# No systemd --user manager per login: starting one costs a minute under emulation, and
# every stage logs in over ssh (services are system units, run with sudo).
sed -i '/pam_systemd\.so/d' /etc/pam.d/common-session
# Nothing periodic competes with the cluster for the (emulated) CPU.
systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer 2>/dev/null || true
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /tmp/vagrant.pub
# Each VM gets its own machine-id on first boot.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
EOF
PKG="$WORK/box"
mkdir -p "$PKG"
ssh-keygen -q -t ed25519 -N "" -C "vagrant@dvc-debian12-$HASH" -f "$PKG/vagrant_key"
cp "$PKG/vagrant_key.pub" "$ROOTFS/tmp/vagrant.pub"
for m in proc sys dev dev/pts; do mount --bind "/$m" "$ROOTFS/$m"; done
chroot "$ROOTFS" /bin/bash /dev/stdin < "$WORK/in-chroot.sh" >"$WORK/chroot.log" 2>&1 || {
  tail -20 "$WORK/chroot.log" >&2
  echo "build-test-box.sh: configuring the rootfs failed (log above)" >&2
  exit 1
}
for m in dev/pts dev proc sys; do umount -l "$ROOTFS/$m"; done
"$ROOTFS/usr/bin/python3.11" -c 'import sys' 2>/dev/null || true

kernel=$(ls "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$ROOTFS"/boot/initrd.img-* | sort -V | tail -1)
[ -s "$kernel" ] && [ -s "$initrd" ] || { echo "build-test-box.sh: no kernel/initrd in the rootfs /boot" >&2; exit 1; }
cp "$kernel" "$PKG/vmlinuz"
cp "$initrd" "$PKG/initrd.img"
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
pyver=$(chroot "$ROOTFS" python3.11 -c 'import platform; print(platform.python_version())')
t_configure=$(lap)
say "rootfs configured in $(( t_configure - t_debootstrap )) s (kernel $kver, Python $pyver)"

# --- disk image: a bare ext4 filesystem from the rootfs, then qcow2 --------------------
mkfs.ext4 -q -F -L root -d "$ROOTFS" "$WORK/root.raw" "${DISK_GB}G"
qemu-img convert -f raw -O qcow2 "$WORK/root.raw" "$PKG/box.img"
rm -f "$WORK/root.raw"
t_image=$(lap)
say "box.img (qcow2, ${DISK_GB} GiB virtual) in $(( t_image - t_configure )) s"

cat > "$PKG/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": $DISK_GB}
EOF
cat > "$PKG/Vagrantfile" <<'EOF'
# Box Vagrantfile of dvc/debian12 (provision/machines/libvirt/build-test-box.sh): direct kernel boot.
require "digest"
require "fileutils"

dvc_box_dir = File.dirname(File.expand_path(__FILE__))

# qemu runs as libvirt's qemu user and opens the kernel itself: every folder above it
# must be searchable by others. If the box folder is not (root's home is 0700), copy the
# two files to a place that is, named by content so boxes never mix.
dvc_reachable = lambda do |dir|
  d = dir
  loop do
    return false unless File.stat(d).mode & 0o001 != 0
    parent = File.dirname(d)
    break if parent == d
    d = parent
  end
  true
end
dvc_boot = lambda do |file|
  src = File.join(dvc_box_dir, file)
  next src if dvc_reachable.call(dvc_box_dir)
  dest_dir = Process.uid.zero? && File.directory?("/var/lib/libvirt/boot") ? "/var/lib/libvirt/boot" : "/var/tmp/dvc-boot-#{Process.uid}"
  FileUtils.mkdir_p(dest_dir, mode: 0o711)
  dest = File.join(dest_dir, "dvc-#{Digest::SHA256.file(src).hexdigest[0, 16]}-#{file}")
  unless File.size?(dest) == File.size(src)
    # Parallel `vagrant up`s all load this file: each copies to a name of its own, and the
    # rename (atomic) lets the last one win with the same bytes. A shared ".tmp" made the
    # first deploy on a new machine fail with ENOENT in two of three VMs.
    tmp = "#{dest}.#{Process.pid}.tmp"
    FileUtils.cp(src, tmp)
    File.chmod(0o644, tmp)
    File.rename(tmp, dest)
  end
  dest
end

Vagrant.configure("2") do |config|
  # This box's own key (made when it was built), not Vagrant's insecure one.
  config.ssh.private_key_path = File.join(dvc_box_dir, "vagrant_key")
  config.ssh.insert_key = false
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = dvc_boot.call("vmlinuz")
    libvirt.initrd = dvc_boot.call("initrd.img")
    libvirt.cmd_line = "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 biosdevname=0 quiet"
    libvirt.disk_bus = "virtio"
  end
end
EOF
tar -C "$PKG" -cf "$WORK/box.tar" -S ./metadata.json ./Vagrantfile ./box.img ./vmlinuz ./initrd.img ./vagrant_key ./vagrant_key.pub
mv "$WORK/box.tar" "$BOX.tmp"
chmod 0600 "$BOX.tmp"  # it holds the private key
mv "$BOX.tmp" "$BOX"
total=$(lap)
size_mb=$(( $(stat -c %s "$BOX") / 1048576 ))
cat > "$FACTS" <<EOF
{"box": "$BOX", "recipeHash": "$HASH", "suite": "$SUITE", "kernel": "$kver", "python": "$pyver",
 "sizeMiB": $size_mb, "seconds": {"debootstrap": $t_debootstrap, "configure": $(( t_configure - t_debootstrap )), "image": $(( t_image - t_configure )), "total": $total},
 "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
EOF
say "built $BOX (${size_mb} MiB) in ${total} s"
echo "$BOX"
