#!/bin/sh
# fetch-kernel.sh — unpack a Debian guest kernel for the VTL rig, without installing it.
#
# usage: scripts/rig/fetch-kernel.sh uml|qemu DIR
#
#   uml   Debian's `user-mode-linux` package: the kernel is DIR/usr/bin/linux.uml, its modules
#         are DIR/usr/lib/uml/modules/KVER (this script links DIR/lib/modules/KVER to them so that
#         `modprobe -d DIR` and `depmod -b DIR` work).
#   qemu  the package `linux-image-amd64` depends on (linux-image-<abi>-amd64): the kernel is
#         DIR/boot/vmlinuz-KVER, its modules DIR/lib/modules/KVER.
#
# The .deb is fetched with `apt-get download` (from the configured Debian mirror; run
# `apt-get update` first on a fresh machine) and unpacked with `dpkg-deb -x`: no postinst, no
# initramfs-tools, nothing installed on the host. Idempotent: DIR/.fetched records
# "<package> <version> <kver>"; when it matches the package apt would download now, nothing is
# done. Prints "<path-to-kernel> <kver>" on stdout. Exits non-zero with a message on failure.
set -eu

die() { echo "fetch-kernel: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: fetch-kernel.sh uml|qemu DIR"
backend=$1
dir=$2

case $backend in
uml) pkg=user-mode-linux ;;
qemu)
	# linux-image-amd64 is a metapackage; the kernel is in the package it depends on.
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || die "cannot resolve linux-image-amd64 (run apt-get update?)"
	;;
*) die "unknown backend '$backend' (uml or qemu)" ;;
esac

version=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
[ -n "$version" ] && [ "$version" != "(none)" ] || version=unknown

kernel_path() {
	# $1 = unpacked tree, $2 = kver
	case $backend in
	uml) echo "$1/usr/bin/linux.uml" ;;
	qemu) echo "$1/boot/vmlinuz-$2" ;;
	esac
}

if [ -f "$dir/.fetched" ]; then
	read -r have_pkg have_version have_kver <"$dir/.fetched" || true
	if [ "$have_pkg" = "$pkg" ] && { [ "$have_version" = "$version" ] || [ "$version" = unknown ]; } &&
		[ -e "$(kernel_path "$dir" "$have_kver")" ]; then
		echo "$(kernel_path "$dir" "$have_kver") $have_kver"
		exit 0
	fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# apt-get download drops privileges to _apt for the transfer when it can; a directory it can
# write to avoids the "unsandboxed" warning.
chmod 0777 "$tmp"
if ! (cd "$tmp" && apt-get download "$pkg" >"$tmp/apt.log" 2>&1); then
	cat "$tmp/apt.log" >&2
	die "apt-get download $pkg failed"
fi
deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download $pkg produced no .deb"

rm -rf "$dir.new"
mkdir -p "$dir.new"
dpkg-deb -x "$deb" "$dir.new" || die "dpkg-deb -x $deb failed"

case $backend in
uml)
	kver=$(ls "$dir.new/usr/lib/uml/modules" | head -n 1)
	[ -n "$kver" ] || die "no modules directory in $pkg"
	mkdir -p "$dir.new/lib/modules"
	ln -sfn "../../usr/lib/uml/modules/$kver" "$dir.new/lib/modules/$kver"
	;;
qemu)
	kver=$(ls "$dir.new/lib/modules" | head -n 1)
	[ -n "$kver" ] || die "no modules directory in $pkg"
	depmod -b "$dir.new" "$kver" || die "depmod failed"
	;;
esac
[ -e "$(kernel_path "$dir.new" "$kver")" ] || die "no kernel image in $pkg"

echo "$pkg $version $kver" >"$dir.new/.fetched"
rm -rf "$dir"
mv "$dir.new" "$dir"
echo "$(kernel_path "$dir" "$kver") $kver"
