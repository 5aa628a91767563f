#!/bin/bash
# smoke.sh — the rig itself works: the library is the one its definition describes, the device
# variables name the right devices, data goes through the drives, and a restarted library is
# the same library whichever way tgt was configured.
#
# usage: scripts/vtl-run [--library small|aws] -- tests/rig/smoke.sh
#
# Checks (expected values all come from the library definition, scripts/rig/libraries/*.sh):
#   1. `mtx status` equals the inventory the definition implies: header (drives, slots, I/E),
#      every drive empty, every cartridge in its slot with its barcode (mtx numbering: storage
#      slots in address order, then I/E slots);
#   2. CHANGER_SG/CHANGER_SCH answer INQUIRY as the changer (SG_IO on /dev/schN too);
#      DRIVE<n>_SG reports the serial of the n-th drive element in VPD page 80h;
#   3. drive 0 and the last drive: `mtx load` into drive n makes DRIVE<n>_NST ONLINE; 64 KiB
#      written there reads back identical; `mtx unload` empties it again;
#   4. `"$VTL_CTL" restart` with tgtadm (VTL_TGTADM=1) instead of tgt-ipc.pl gives the same
#      tgt targets/LUNs and the same fresh inventory.
# Prints one line per check and `smoke: N passed, M failed`; exits 1 on any failure.
set -eu

: "${CHANGER_SG:?run me through scripts/vtl-run}"
# shellcheck source=../../scripts/rig/library.sh
. "$(dirname "$VTL_CTL")/library.sh"
library_load "$VTL_LIBRARY" || exit 1
w=$(mktemp -d /tmp/smoke.XXXXXX)
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $*"; }

# 1. The inventory the definition implies, in mtx's words.
expected_status() {
	local -A tape=() start=() count=()
	local t r k addr n=0
	for t in "${LIB_TAPES[@]}"; do
		read -r addr bc _ <<<"$t"
		tape[$addr]=$bc
	done
	for r in "${LIB_RANGES[@]}"; do
		read -r type s c <<<"$r"
		start[$type]=$s count[$type]=$c
	done
	echo "  Storage Changer $1:${count[drive]} Drives, $((count[storage] + count[ie])) Slots ( ${count[ie]} Import/Export )"
	for ((k = 0; k < count[drive]; k++)); do echo "Data Transfer Element $k:Empty"; done
	for ((k = 0; k < count[storage]; k++)); do
		addr=$((start[storage] + k))
		if [ -n "${tape[$addr]:-}" ]; then
			echo "      Storage Element $((k + 1)):Full :VolumeTag=${tape[$addr]}"
		else
			echo "      Storage Element $((k + 1)):Empty:VolumeTag="
		fi
	done
	for ((k = 0; k < count[ie]; k++)); do
		addr=$((start[ie] + k))
		n=$((count[storage] + k + 1))
		if [ -n "${tape[$addr]:-}" ]; then
			echo "      Storage Element $n IMPORT/EXPORT:Full :VolumeTag=${tape[$addr]}"
		else
			echo "      Storage Element $n IMPORT/EXPORT:Empty:VolumeTag="
		fi
	done
}
actual_status() { mtx -f "$1" status 2>&1 | sed 's/ *$//'; }

shows() { # the tgt configuration without the session (I_T nexus) part
	tgtadm -C 1 --lld iscsi --op show --mode target |
		awk '/I_T nexus information:/ { skip = 1; next } /LUN information:/ { skip = 0 } !skip'
}
shows >"$w/show-ipc"
expected_status "$CHANGER_SG" >"$w/want"
actual_status "$CHANGER_SG" >"$w/got"
if cmp -s "$w/want" "$w/got"; then
	ok "inventory: $(head -n 1 "$w/got" | sed 's/^ *//'), $(grep -c ':Full' "$w/got") cartridges where the definition puts them"
else
	not_ok "inventory differs from the definition (--- expected, +++ mtx status):"
	diff -u "$w/want" "$w/got" | head -n 40 | sed 's/^/    /'
fi

# 2. Device identities.
for dev in "$CHANGER_SG" "$CHANGER_SCH"; do
	inq=$(sg_inq "$dev" 2>&1) || true
	if grep -q "Vendor identification: $LIB_CHANGER_VENDOR" <<<"$inq" &&
		grep -q "Product identification: $LIB_CHANGER_PRODUCT" <<<"$inq" &&
		grep -q "Peripheral device type: medium changer" <<<"$inq"; then
		ok "$dev answers INQUIRY as the $LIB_CHANGER_VENDOR $LIB_CHANGER_PRODUCT medium changer"
	else
		not_ok "$dev: unexpected INQUIRY answer: $(head -c 600 <<<"$inq")"
	fi
done
bad=
for ((n = 0; n < ${#LIB_DRIVES[@]}; n++)); do
	want=${LIB_DRIVES[n]##* }
	sg_var=DRIVE${n}_SG
	nst_var=DRIVE${n}_NST
	got=$(sg_inq -p 0x80 "${!sg_var}" 2>&1 | sed -n 's/^ *Unit serial number: *//p')
	[ "$got" = "$want" ] || bad+=" drive $n: ${!sg_var} says '$got', want '$want';"
	# DRIVE<n>_SG and DRIVE<n>_NST must be the same SCSI device.
	a=$(readlink -f "/sys/class/scsi_generic/${!sg_var#/dev/}/device") || true
	b=$(readlink -f "/sys/class/scsi_tape/${!nst_var#/dev/}/device") || true
	[ "$a" = "$b" ] || bad+=" drive $n: ${!sg_var} and ${!nst_var} are different devices;"
done
if [ -z "$bad" ]; then
	ok "DRIVE0..$((n - 1))_SG report the serials of drive elements in address order, and each DRIVE<n>_NST is the same device"
else
	not_ok "drive identities:$bad"
fi

# 3. Load, write, read, unload through drive 0 and the last drive.
first_full_slot=$(grep -m1 '^ *Storage Element [0-9]*:Full' "$w/got" | sed 's/^ *Storage Element \([0-9]*\):.*/\1/')
for n in 0 $((${#LIB_DRIVES[@]} - 1)); do
	nst_var=DRIVE${n}_NST
	nst=${!nst_var}
	if ! out=$(mtx -f "$CHANGER_SG" load "$first_full_slot" "$n" 2>&1); then
		not_ok "drive $n: mtx load $first_full_slot $n failed: $out"
		continue
	fi
	online=
	for _ in $(seq 1 40); do
		mt -f "$nst" status 2>&1 | grep -q ONLINE && { online=1; break; }
		sleep 0.25
	done
	head -c 65536 /dev/urandom >"$w/data"
	if [ -n "$online" ] && mt -f "$nst" rewind && dd if="$w/data" of="$nst" bs=65536 count=1 2>/dev/null &&
		mt -f "$nst" weof 1 && mt -f "$nst" rewind &&
		dd if="$nst" of="$w/back" bs=65536 count=1 2>/dev/null && cmp -s "$w/data" "$w/back"; then
		ok "drive $n: slot $first_full_slot loaded, $nst ONLINE, 64 KiB written and read back identical"
	else
		not_ok "drive $n: after mtx load $first_full_slot $n, $nst is $([ -n "$online" ] && echo ONLINE || echo 'not ONLINE') and the data did not round-trip"
	fi
	out=$(mtx -f "$CHANGER_SG" unload "$first_full_slot" "$n" 2>&1) || not_ok "drive $n: mtx unload failed: $out"
done
actual_status "$CHANGER_SG" | sed 1d >"$w/after"
if sed 1d "$w/want" | cmp -s - "$w/after"; then
	ok "after the unloads the inventory is the initial one again"
else
	not_ok "inventory after load/unload differs from the initial one"
fi

# 4. tgtadm and tgt-ipc.pl configure the same library (the first snapshot was taken before
# step 3: a load/unload changes a drive LU's backing store).
if VTL_TGTADM=1 "$VTL_CTL" restart >"$w/restart.log" 2>&1; then
	set -a
	# shellcheck source=/dev/null
	. "$VTL_ENV"
	set +a
	shows >"$w/show-tgtadm"
	expected_status "$CHANGER_SG" >"$w/want2"
	actual_status "$CHANGER_SG" >"$w/got2"
	if cmp -s "$w/show-ipc" "$w/show-tgtadm" && cmp -s "$w/want2" "$w/got2"; then
		ok "restart with tgtadm: same targets and LUNs ($(grep -c '^Target' "$w/show-tgtadm") targets) as tgt-ipc.pl, same fresh inventory"
	else
		not_ok "restart with tgtadm differs from tgt-ipc.pl:"
		diff -u "$w/show-ipc" "$w/show-tgtadm" | head -n 30 | sed 's/^/    /'
		diff -u "$w/want2" "$w/got2" | head -n 30 | sed 's/^/    /'
	fi
else
	not_ok "\"\$VTL_CTL\" restart with VTL_TGTADM=1 failed:"
	sed 's/^/    /' "$w/restart.log"
fi

echo "smoke: $passed passed, $failed failed"
rm -rf "$w"
[ "$failed" = 0 ]
