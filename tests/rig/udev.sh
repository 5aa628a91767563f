#!/bin/bash
# udev.sh — with `scripts/vtl-run --udev`, Debian's systemd-udevd runs in the guest and its
# persistent-storage rules make the /dev/tape links; they must name the same devices as the
# rig's variables (an independent check of the VPD-80h drive mapping: udev asks scsi_id).
#
# usage: scripts/vtl-run --udev [--library small|aws] -- tests/rig/udev.sh
#
# For the changer:  /dev/tape/by-id/scsi-<serial>  and
#                   /dev/tape/by-path/ip-127.0.0.1:3260-iscsi-<iqn>-lun-<lun>-changer  -> $CHANGER_SG
# For drive n:      /dev/tape/by-id/scsi-<serial>-nst  and
#                   /dev/tape/by-path/ip-127.0.0.1:3260-iscsi-<iqn>-lun-<lun>-nst      -> $DRIVE<n>_NST
# (serial, iqn, lun from the library definition). Prints `udev: N passed, M failed`.
set -eu

: "${CHANGER_SG:?run me through scripts/vtl-run --udev}"
# shellcheck source=../../scripts/rig/library.sh
. "$(dirname "$VTL_CTL")/library.sh"
library_load "$VTL_LIBRARY" || exit 1
passed=0 failed=0
link() { # LINK TARGET
	local got
	got=$(readlink -f "$1" 2>/dev/null) || true
	if [ "$got" = "$2" ]; then
		passed=$((passed + 1))
		echo "ok   - $1 -> $2"
	else
		failed=$((failed + 1))
		echo "FAIL - $1 -> '${got:-missing}', want $2"
	fi
}

[ -d /run/udev ] || { echo "FAIL - systemd-udevd is not running (use scripts/vtl-run --udev)"; exit 1; }
path=/dev/tape/by-path/ip-127.0.0.1:3260-iscsi
link "/dev/tape/by-id/scsi-$LIB_CHANGER_SERIAL" "$CHANGER_SG"
link "$path-$LIB_CHANGER_IQN-lun-$LIB_CHANGER_LUN-changer" "$CHANGER_SG"
for ((n = 0; n < ${#LIB_DRIVES[@]}; n++)); do
	read -r _ iqn lun _ _ serial <<<"${LIB_DRIVES[n]}"
	nst_var=DRIVE${n}_NST
	link "/dev/tape/by-id/scsi-$serial-nst" "${!nst_var}"
	link "$path-$iqn-lun-$lun-nst" "${!nst_var}"
done
echo "udev: $passed passed, $failed failed"
[ "$failed" = 0 ]
