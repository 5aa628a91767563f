#!/bin/sh
# build-initramfs.sh — build the VTL rig's small guest initramfs from files already on the host.
#
# usage: scripts/rig/build-initramfs.sh uml|qemu KERNEL_TREE KVER OUT.cpio.gz
#
# KERNEL_TREE/KVER come from fetch-kernel.sh. The initramfs holds only what the guest needs
# before it switches to the host's root file system (host-root mode, see docs/rig.md):
#   /init                 scripts/rig/guest-init.sh (PID 1, busybox sh)
#   /bin/busybox          from Debian's busybox-static (applet links are made at boot)
#   /lib/modules/KVER     the kernel modules below with their dependencies (from
#                         `modprobe --show-depends`) and a fresh modules.dep (depmod), so that
#                         `modprobe` works in the initramfs and, bind-mounted, in the guest's
#                         host-root view (where udev and iscsid may ask for modules)
#   /etc/rig-modules      the modules /init loads, in order
# Everything else (tgt, open-iscsi, mtx, sg3-utils, bash, Bacula, test binaries …) is the host's
# own, reached through the host-root overlay, so the guest always runs exactly the host's
# package versions and this image never needs rebuilding when they change.
#
# Modules: sg st ch iscsi_tcp overlay for both backends; crc32c_generic (iscsi_tcp needs a crc32c
# even with digests off; built in for UML) and the virtio/9p transport for qemu.
set -eu

die() { echo "build-initramfs: $*" >&2; exit 1; }

[ $# -eq 4 ] || die "usage: build-initramfs.sh uml|qemu KERNEL_TREE KVER OUT.cpio.gz"
backend=$1
tree=$2
kver=$3
out=$4
here=$(cd "$(dirname "$0")" && pwd)

case $backend in
uml) modules="sg st ch iscsi_tcp overlay" ;;
qemu) modules="crc32c_generic sg st ch iscsi_tcp overlay virtio_pci 9pnet_virtio 9p" ;;
*) die "unknown backend '$backend'" ;;
esac

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
! ldd "$busybox" >/dev/null 2>&1 ||
	die "$busybox is not static (apt-get install busybox-static)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"
command -v depmod >/dev/null || die "depmod not found (apt-get install kmod)"

work=$(mktemp -d "${TMPDIR:-/tmp}/rig-initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/sbin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" \
	"$root/run" "$root/tmp" "$root/mnt" "$root/lib/modules/$kver"
cp "$busybox" "$root/bin/busybox"
cp "$here/guest-init.sh" "$root/init"
chmod 0755 "$root/init" "$root/bin/busybox"

# Kernel modules and their dependencies, in load order.
: >"$root/etc/rig-modules"
for m in $modules; do
	deps=$(modprobe -d "$tree" -S "$kver" --show-depends "$m" 2>&1) ||
		die "module $m: $deps"
	echo "$deps" | while read -r kind path _; do
		case $kind in
		builtin) ;;
		insmod)
			rel=${path#"$tree"/lib/modules/"$kver"/}
			mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
			cp -L "$path" "$root/lib/modules/$kver/$rel"
			;;
		*) die "unexpected modprobe output for $m: $kind $path" ;;
		esac
	done
	echo "$m" >>"$root/etc/rig-modules"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$tree/lib/modules/$kver/$f" ] && cp -L "$tree/lib/modules/$kver/$f" "$root/lib/modules/$kver/"
done
depmod -b "$root" "$kver" || die "depmod failed"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
