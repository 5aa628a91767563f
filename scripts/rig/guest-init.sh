#!/bin/busybox sh
# shellcheck shell=dash
# guest-init.sh — PID 1 of the VTL rig guest (baked into the initramfs as /init).
#
# Kernel command line (set by scripts/vtl-run):
#   rigbackend=uml|qemu   how to reach the host: UML hostfs, or qemu virtio-9p tags
#                         `share` (read-write) and `hostroot` (read-only)
#   rigshare=PATH         UML only: the host path of the run's share directory
#
# What it does:
#   1. mounts proc, sys, devtmpfs; loads the modules listed in /etc/rig-modules; brings up lo
#      (the guest has no other network device);
#   2. mounts the share (read-write) on /mnt/share and the host's / read-only on /mnt/lower;
#   3. builds the host-root view /newroot = overlay(lower = host /, upper = tmpfs), with fresh
#      proc, sys, devtmpfs, devpts, /dev/shm and /run, the share at /run/rig/share, and this
#      initramfs's /lib/modules/KVER bind-mounted so modprobe works there;
#   4. runs `bash <RIG_DIR>/guest-main.sh` chrooted into /newroot (RIG_DIR is read from
#      share/rig-dir), reaping orphans while it waits;
#   5. syncs and powers off. The exit status travels in share/out/rc, written by guest-main.sh;
#      vtl-run treats a missing rc as "the guest failed" (125).
# Everything this script prints goes to the guest console, which vtl-run logs to a file.
/bin/busybox mkdir -p /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "rig-init: $*"; }
halt() {
	sync
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}
fail() {
	say "FAILED: $*"
	halt
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true # the kernel may have mounted it already

backend=
share=
for arg in $(cat /proc/cmdline); do
	case $arg in
	rigbackend=*) backend=${arg#rigbackend=} ;;
	rigshare=*) share=${arg#rigshare=} ;;
	esac
done
say "backend=$backend kernel=$(uname -r)"

while read -r m; do
	modprobe "$m" || fail "modprobe $m"
done </etc/rig-modules
ip link set lo up || fail "cannot bring up lo"

mkdir -p /mnt/share /mnt/lower /mnt/rw /newroot
case $backend in
uml)
	[ -n "$share" ] || fail "rigshare= missing"
	mount -t hostfs -o "$share" none /mnt/share || fail "mount hostfs share $share"
	mount -r -t hostfs -o / none /mnt/lower || fail "mount hostfs /"
	;;
qemu)
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none share /mnt/share ||
		fail "mount 9p share"
	mount -r -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /mnt/lower ||
		fail "mount 9p hostroot"
	;;
*) fail "unknown rigbackend '$backend'" ;;
esac
[ -f /mnt/share/rig-dir ] || fail "share has no rig-dir"
rigdir=$(cat /mnt/share/rig-dir)

mount -t tmpfs -o mode=0755 tmpfs /mnt/rw || fail "mount tmpfs"
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /newroot ||
	fail "mount overlay"

n=/newroot
mount -t proc proc $n/proc || fail "mount proc"
mount -t sysfs sysfs $n/sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs $n/dev || fail "mount devtmpfs"
mkdir -p $n/dev/pts $n/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $n/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $n/dev/shm
ln -sfn /proc/self/fd $n/dev/fd
ln -sfn /proc/self/fd/0 $n/dev/stdin
ln -sfn /proc/self/fd/1 $n/dev/stdout
ln -sfn /proc/self/fd/2 $n/dev/stderr
mount -t tmpfs -o mode=0755 tmpfs $n/run || fail "mount /run"
mkdir -p $n/run/rig/share $n/run/lock
mount --bind /mnt/share $n/run/rig/share || fail "bind share"
kver=$(uname -r)
mkdir -p "$n/lib/modules/$kver"
mount --bind "/lib/modules/$kver" "$n/lib/modules/$kver" || fail "bind modules"

say "host root ready, running $rigdir/guest-main.sh"
chroot $n /bin/bash "$rigdir/guest-main.sh" </dev/null &
main=$!
# PID 1 must reap orphans (daemons started by the test); busybox sh's wait does.
wait $main
say "guest-main.sh exited with status $?"
halt
