#!/bin/bash
# udev-aws.sh — the project's udev rules for the AWS tape gateway
# (packaging/udev/61-changer-aws-vtl.rules, docs/udev.md) under Debian's systemd-udevd in the
# guest: installed into the guest's /etc/udev/rules.d, udevd reloaded, the SCSI nodes
# re-triggered.
#
# usage: scripts/vtl-run --udev --library aws   -- tests/rig/udev-aws.sh
#        scripts/vtl-run --udev --library small -- tests/rig/udev-aws.sh
#
# On a library whose targets are named like a gateway's (iqn.1997-05.com.amazon:<target>), with
# <target> from the library definition, never from a constant:
#   - without group `changer` (when the guest lacks it): no links are lost, the changer's sg node
#     keeps group tape and gets mode 0660, and loading the rules logs the unknown group; after
#     `groupadd changer` a plain `udevadm control --reload` still leaves it group tape (systemd
#     252 reloads only when a rules file changed: the package must create the group before it
#     installs the rules); touching the rules file and reloading applies the group;
#   - with group `changer`:
#     /dev/tape/by-iqn/<changer target>-changer and -sg -> $CHANGER_SG, -sch -> $CHANGER_SCH;
#     /dev/tape/by-iqn/<drive n's target>-nst -> $DRIVE<n>_NST and -sg -> $DRIVE<n>_SG, drive n
#     being the drive element n in address order and its target …-tapedrive-<n+1, two digits>;
#     /dev/tape/by-iqn holds exactly these names; $CHANGER_SG and $CHANGER_SCH are group changer,
#     mode 0660; the drives' sg nodes keep group tape; systemd's by-id and by-path changer links
#     still point at $CHANGER_SG.
#   - with CHANGER_BIN set: `changer status` on the by-iqn changer link names the library, and
#     `changer doctor --bareos-config` on an SD configuration that uses only by-iqn names
#     (Changer Device, every drive's Archive Device with Drive Index n) passes and confirms
#     every Device.
# On any other library: no /dev/tape/by-iqn, no CHANGER_AWS_VTL_TARGET property, the changer's
# sg node keeps group tape, systemd's links unchanged.
# Prints one line per check and `udev-aws: N passed, M failed`.
set -eu

: "${CHANGER_SG:?run me through scripts/vtl-run --udev}"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rules=$root/packaging/udev/61-changer-aws-vtl.rules
# shellcheck source=../../scripts/rig/library.sh
. "$(dirname "$VTL_CTL")/library.sh"
library_load "$VTL_LIBRARY" || exit 1
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # WHAT GOT WANT
	if [ "$2" = "$3" ]; then ok "$1: $2"; else fail "$1: '$2', want '$3'"; fi
}
link() { # LINK TARGET
	local got
	got=$(readlink -f "$1" 2>/dev/null) || true
	[ -e "$1" ] || got=""
	check "$1" "${got:-missing}" "$2"
}
owner() { stat -c '%G %a' "$1"; }
names() { find /dev/tape/by-iqn -mindepth 1 -printf '%f\n' 2>/dev/null | sort | tr '\n' ' '; }
# The guest runs in a chroot, where udevadm's control, trigger and settle verbs do nothing
# ("Running in chroot, ignoring request") unless told otherwise.
retrigger() {
	SYSTEMD_IGNORE_CHROOT=1 udevadm control --reload
	SYSTEMD_IGNORE_CHROOT=1 udevadm trigger --action=add --subsystem-match=scsi_generic --subsystem-match=scsi_tape \
		--subsystem-match=scsi_changer
	SYSTEMD_IGNORE_CHROOT=1 udevadm settle --timeout=60
}

[ -d /run/udev ] || { echo "FAIL - systemd-udevd is not running (use scripts/vtl-run --udev)"; exit 1; }
[ -r "$rules" ] || { echo "FAIL - $rules missing"; exit 1; }
prefix=iqn.1997-05.com.amazon:
by_path=/dev/tape/by-path/ip-127.0.0.1:3260-iscsi-$LIB_CHANGER_IQN-lun-$LIB_CHANGER_LUN-changer
install -m 0644 "$rules" /etc/udev/rules.d/

if [[ $LIB_CHANGER_IQN != "$prefix"* ]]; then
	echo "# library $VTL_LIBRARY: targets are not a gateway's; the rules must change nothing"
	getent group changer >/dev/null || groupadd --system changer
	retrigger
	check "/dev/tape/by-iqn" "$(ls -A /dev/tape/by-iqn 2>/dev/null || echo absent)" absent
	check "CHANGER_AWS_VTL_TARGET of $CHANGER_SG" \
		"$(udevadm info -q property -p "/sys/class/scsi_generic/${CHANGER_SG##*/}" |
			grep -c '^CHANGER_AWS_VTL_TARGET=' || true)" 0
	check "group and mode of $CHANGER_SG" "$(owner "$CHANGER_SG")" "tape 660"
	link "/dev/tape/by-id/scsi-$LIB_CHANGER_SERIAL" "$CHANGER_SG"
	link "$by_path" "$CHANGER_SG"
	echo "udev-aws: $passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
fi

ct=${LIB_CHANGER_IQN#"$prefix"}
dir=/dev/tape/by-iqn
want=("$ct-changer" "$ct-sg" "$ct-sch")
for ((n = 0; n < ${#LIB_DRIVES[@]}; n++)); do
	read -r _ iqn _ _ _ _ <<<"${LIB_DRIVES[n]}"
	want+=("${iqn#"$prefix"}-nst" "${iqn#"$prefix"}-sg")
done

if getent group changer >/dev/null; then
	echo "# group changer exists already (host's /etc/group): the missing-group case is not shown"
	retrigger
else
	echo "# rules installed, no group changer"
	retrigger
	check "group and mode of $CHANGER_SG without group changer" "$(owner "$CHANGER_SG")" "tape 660"
	check "names in $dir without group changer" "$(names)" \
		"$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ')"
	# what udevd logs when it loads the rules (shown by udevadm test, which loads them too)
	msg=$(udevadm test --action=add "/sys/class/scsi_generic/${CHANGER_SG##*/}" 2>&1 |
		grep "61-changer-aws-vtl.rules:.*Unknown group 'changer', ignoring" | head -1) || true
	if [ -n "$msg" ]; then ok "loading the rules logs: $msg"; else fail "no \"Unknown group 'changer'\" message"; fi
	groupadd --system changer
	echo "# groupadd changer, udevadm control --reload: systemd 252 reloads only changed rules files"
	retrigger
	check "group and mode of $CHANGER_SG after groupadd and reload" "$(owner "$CHANGER_SG")" "tape 660"
	touch /etc/udev/rules.d/61-changer-aws-vtl.rules
	echo "# rules file touched, reloaded"
	retrigger
fi

link "$dir/$ct-changer" "$CHANGER_SG"
link "$dir/$ct-sg" "$CHANGER_SG"
link "$dir/$ct-sch" "$CHANGER_SCH"
for ((n = 0; n < ${#LIB_DRIVES[@]}; n++)); do
	read -r _ iqn _ _ _ _ <<<"${LIB_DRIVES[n]}"
	t=${iqn#"$prefix"}
	printf -v nn '%02d' $((n + 1))
	check "drive $n's target" "${t##*-tapedrive-}" "$nn"
	nst_var=DRIVE${n}_NST sg_var=DRIVE${n}_SG
	link "$dir/$t-nst" "${!nst_var}"
	link "$dir/$t-sg" "${!sg_var}"
done
check "names in $dir" "$(names)" "$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ')"
check "group and mode of $CHANGER_SG" "$(owner "$CHANGER_SG")" "changer 660"
check "group and mode of $CHANGER_SCH" "$(owner "$CHANGER_SCH")" "changer 660"
for ((n = 0; n < ${#LIB_DRIVES[@]}; n++)); do
	sg_var=DRIVE${n}_SG
	check "group of drive $n's ${!sg_var}" "$(stat -c %G "${!sg_var}")" tape
done
link "/dev/tape/by-id/scsi-$LIB_CHANGER_SERIAL" "$CHANGER_SG"
link "$by_path" "$CHANGER_SG"

# The names in use, when CHANGER_BIN is given: `changer status` on the by-iqn changer link, and
# `changer doctor` on a Bareos SD configuration written with by-iqn names only (docs/udev.md).
if [ -n "${CHANGER_BIN:-}" ]; then
	echo "# $CHANGER_BIN with the by-iqn names"
	head=$("$CHANGER_BIN" status "$dir/$ct-changer" 2>&1 | head -1) || true
	check "changer status $dir/$ct-changer" "$head" "$dir/$ct-changer — $LIB_CHANGER_VENDOR $LIB_CHANGER_PRODUCT, serial $LIB_CHANGER_SERIAL"
	conf=$(mktemp /tmp/udev-aws-sd.XXXXXX)
	devices=()
	for ((n = 0; n < ${#LIB_DRIVES[@]}; n++)); do
		read -r _ iqn _ _ _ _ <<<"${LIB_DRIVES[n]}"
		devices+=("${iqn##*-}")
	done
	{
		printf 'Autochanger {\n  Name = aws-vtl\n  Changer Device = %s\n' "$dir/$ct-changer"
		printf '  Changer Command = "/usr/bin/changer %%c %%o %%S %%a %%d"\n'
		printf '  Device = %s\n}\n' "$(printf 'tapedrive-%s, ' "${devices[@]}" | sed 's/, $//')"
		for ((n = 0; n < ${#LIB_DRIVES[@]}; n++)); do
			read -r _ iqn _ _ _ _ <<<"${LIB_DRIVES[n]}"
			printf 'Device {\n  Name = tapedrive-%s\n  Drive Index = %d\n' "${iqn##*-}" "$n"
			printf '  Archive Device = %s\n  Device Type = tape\n  Media Type = ULT3580-TD5\n  Autochanger = yes\n}\n' \
				"$dir/${iqn#"$prefix"}-nst"
		done
	} >"$conf"
	rc=0
	out=$("$CHANGER_BIN" doctor "$dir/$ct-changer" --bareos-config "$conf" 2>&1) || rc=$?
	check "changer doctor --bareos-config (by-iqn names) exit status" "$rc" 0
	confirmed=0
	for ((n = 0; n < ${#LIB_DRIVES[@]}; n++)); do
		read -r _ iqn _ _ _ _ <<<"${LIB_DRIVES[n]}"
		tr -s ' ' <<<"$out" | grep -qxF "ok Device tapedrive-${iqn##*-} Drive Index $n = $dir/${iqn#"$prefix"}-nst" &&
			confirmed=$((confirmed + 1))
	done
	check "Devices whose Drive Index doctor confirms against their by-iqn Archive Device" \
		"$confirmed" "${#LIB_DRIVES[@]}"
	[ "$rc" = 0 ] || echo "$out"
	rm -f "$conf"
fi
echo "udev-aws: $passed passed, $failed failed"
[ "$failed" = 0 ]
