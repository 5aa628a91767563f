#!/bin/bash
# tgt-quirks.sh — assert, through the real Linux SCSI stack, the tgt 1.0.85 behaviours that a
# media-changer driver must allow for (../shared/reference/test-env.md §2.2–§2.3). A check that
# fails here means the rig's tgt behaves differently from what the driver and its tests assume:
# read the message, then revisit the driver's handling and docs/rig.md.
#
# usage: scripts/vtl-run [--library small|aws] -- tests/rig/tgt-quirks.sh
#
# Element addresses, serials and tapes come from the library definition (scripts/rig/library.sh).
# Checks (raw CDBs with sg_raw on $CHANGER_SG, tape I/O with mt/dd on $DRIVE0_NST):
#   Q1  READ ELEMENT STATUS with element type 0 (all): deliberately NOT sent — it corrupts the
#       answer and can crash tgtd; tests/rig/diff-harness.sh fails any command that sends it
#       (asserted by diff-selftest.sh check 4)
#   Q2  the report byte count leaves out the 8-byte page header, so the last descriptor is
#       8 bytes short: with DVCID the last drive's serial number is cut
#   Q3  "first element address reported" is wrong when one element matches (the transport)
#   Q4  the "number of elements" field is ignored: everything from the start address comes back
#   Q5  the data-in length is not limited to the allocation length; through SG_IO with
#       dxfer_len == allocation length the initiator reports the overflow (negative residual)
#   Q6  SSC: a variable-block READ with a buffer between 1x and 2x the block size reports a wrong
#       transfer length (tgt < 1.0.94): through SG_IO a 1500-byte READ(6) of a 1000-byte block says
#       500 bytes; through st (dd bs=1500) the block comes back 1000 bytes long but only its first
#       500 bytes are data. Reads with a buffer >= 2x the block (or == the block) are correct.
#   Q7  tgtd ignores SIGTERM (it is stopped with tgtadm, see scripts/rig/vtl-ctl.sh)
#   Q8  sense data: empty source 05/3B/0E, full destination 05/3B/0D, unknown element address
#       05/24/00 (real libraries say 05/21/01), EXCHANGE MEDIUM and POSITION TO ELEMENT not
#       implemented 05/20/00, TEST UNIT READY on an empty drive 02/3A/00 (after the power-on
#       UNIT ATTENTION 06/29/00)
#   Q9  element descriptors carry only the FULL flag (no ACCESS, no IMPEXP on I/E slots) and
#       drive descriptors no SCSI bus address
# Prints one line per check and `tgt-quirks: N passed, M failed`; exits 1 on any failure.
# shellcheck disable=SC2046 # $(hex16 …) expands to several CDB bytes on purpose
set -eu

: "${CHANGER_SG:?run me through scripts/vtl-run}"
# shellcheck source=../../scripts/rig/library.sh
. "$(dirname "$VTL_CTL")/library.sh"
library_load "$VTL_LIBRARY" || exit 1
w=$(mktemp -d /tmp/tgt-quirks.XXXXXX)
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # DESCRIPTION CONDITION...
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}

range() { # TYPE -> "start count"
	local r
	for r in "${LIB_RANGES[@]}"; do
		[ "${r%% *}" = "$1" ] && { echo "${r#* }"; return; }
	done
}
read -r ST_START ST_COUNT <<<"$(range storage)"
read -r IE_START IE_COUNT <<<"$(range ie)"
read -r MT_START _ <<<"$(range transport)"
read -r DT_START DT_COUNT <<<"$(range drive)"
hex16() { printf '%02x %02x' $(($1 >> 8)) $(($1 & 255)); }
hex24() { printf '%02x %02x %02x' $(($1 >> 16)) $((($1 >> 8) & 255)) $(($1 & 255)); }

# res TYPE START COUNT ALLOC DXFER [DVCID] -> data in $w/res, byte array B, size in RES_LEN
res() {
	local voltag=$((0x10 | $1)) dvcid=0
	[ "${6:-}" = dvcid ] && dvcid=1
	rm -f "$w/res"
	sg_raw -r "$5" -o "$w/res" "$CHANGER_SG" b8 "$(printf %02x $voltag)" $(hex16 "$2") $(hex16 "$3") \
		"0$dvcid" $(hex24 "$4") 00 00 >"$w/res.log" 2>&1 || true # checked by the callers
	read -r -a B <<<"$(od -An -v -tu1 "$w/res" 2>/dev/null | tr -s " \n" "  " || true)"
	RES_LEN=${#B[@]}
}
be() { # OFFSET LEN -> big-endian number from B
	local v=0 i
	for ((i = 0; i < $2; i++)); do v=$((v * 256 + ${B[$1 + i]:-0})); done
	echo "$v"
}
# Sense key/ASC/ASCQ ("KK/AA/QQ") of a command, from sg_raw's raw fixed-format sense bytes.
sense_of() { # DEVICE CDB...
	local dev=$1
	shift
	sg_raw -v "$dev" "$@" 2>&1 | awk '
		/Raw sense data/ { getline; printf "0%s/%s/%s", toupper(substr($3, 2, 1)), toupper($13), toupper($14); exit }'
}
sense() { sense_of "$CHANGER_SG" "$@"; }

echo "# library $VTL_LIBRARY: storage $ST_START+$ST_COUNT, I/E $IE_START+$IE_COUNT, transport $MT_START, drives $DT_START+$DT_COUNT"
echo "# Q1 READ ELEMENT STATUS for element type 0 is not sent (it can crash tgtd); diff-selftest.sh checks the harness guard"

# Q2: drives with VolTag + DVCID
res 4 0 65535 65535 65535 dvcid
count=$(be 5 3)
desc=$(be 10 2)
check "Q2 report byte count ($count) = page header + descriptors, and exactly that many bytes came ($RES_LEN): the last descriptor is 8 bytes short" \
	test "$count" = $((8 + DT_COUNT * desc)) -a "$RES_LEN" = "$count"
product=$(awk '{print $5}' <<<"${LIB_DRIVES[0]}")
ids=$(tr -c '[:alnum:] \n-' '\n' <"$w/res" | grep -o -- "$product *[A-Z0-9]*" | awk '{print $2}' | paste -sd' ')
last_serial=${LIB_DRIVES[-1]##* }
want_ids=
for d in "${LIB_DRIVES[@]:0:${#LIB_DRIVES[@]}-1}"; do want_ids+="${d##* } "; done
want_ids+=${last_serial:0:2}
check "Q2 DVCID serials in element order: '$ids' (the last drive's '$last_serial' cut to '${last_serial:0:2}')" \
	test "$ids" = "$want_ids"

# Q3: the transport element alone
res 1 0 65535 65535 65535
first=$(be 0 2)
addr=$(be 16 2)
check "Q3 transport: first element address reported is $first, the descriptor says $addr (= $MT_START)" \
	test "$first" != "$MT_START" -a "$addr" = "$MT_START"

# Q4: ask for one storage element, get all from there on
res 2 "$ST_START" 1 65535 65535
check "Q4 asked for 1 storage element from $ST_START, got $(be 2 2) (all $ST_COUNT)" test "$(be 2 2)" = "$ST_COUNT"

# Q5: allocation length 100
res 2 "$ST_START" "$ST_COUNT" 100 65535
check "Q5 allocation length 100 but $RES_LEN bytes came back" test "$RES_LEN" -gt 100
res 2 "$ST_START" "$ST_COUNT" 100 100
check "Q5 with dxfer_len = allocation length = 100 the initiator reports the overflow: $(grep -o 'Writing -[0-9]* bytes' "$w/res.log")" \
	grep -q 'Writing -[0-9]* bytes' "$w/res.log"

# Q9: flags
res 2 "$ST_START" "$ST_COUNT" 65535 65535
desc=$(be 10 2)
flags_bad=0
for ((i = 0; i < ST_COUNT; i++)); do
	f=${B[16 + i * desc + 2]:-0}
	[ $((f & ~1)) -eq 0 ] || flags_bad=$((flags_bad + 1))
done
check "Q9 storage descriptors: only the FULL flag, never ACCESS/EXCEPT ($flags_bad with other bits)" test "$flags_bad" = 0
res 3 "$IE_START" "$IE_COUNT" 65535 65535
check "Q9 first I/E descriptor flags 0x$(printf %02x "${B[18]:-0}"): no IMPEXP/INENAB/EXENAB bits" test $((${B[18]:-0} & ~1)) -eq 0
res 4 "$DT_START" "$DT_COUNT" 65535 65535
check "Q9 drive descriptor SCSI bus address bytes 6-7 are 0 (the ch driver logs 'ID/LUN unknown')" \
	test "$(be 22 2)" = 0

# Q8: sense data
full_slot=${LIB_TAPES[0]%% *}
empty_slot=
for ((a = ST_START; a < ST_START + ST_COUNT; a++)); do
	taken=0
	for t in "${LIB_TAPES[@]}"; do [ "${t%% *}" = "$a" ] && taken=1; done
	[ "$taken" = 0 ] && { empty_slot=$a; break; }
done
full2=${LIB_TAPES[1]%% *}
s=$(sense a5 00 $(hex16 "$MT_START") $(hex16 "$empty_slot") $(hex16 "$DT_START") 00 00 00 00)
check "Q8 MOVE MEDIUM from empty element $empty_slot: sense $s = 05/3B/0E" test "$s" = 05/3B/0E
s=$(sense a5 00 $(hex16 "$MT_START") $(hex16 "$full_slot") $(hex16 "$full2") 00 00 00 00)
check "Q8 MOVE MEDIUM into full element $full2: sense $s = 05/3B/0D" test "$s" = 05/3B/0D
s=$(sense a5 00 $(hex16 "$MT_START") $(hex16 "$full_slot") $(hex16 9999) 00 00 00 00)
check "Q8 MOVE MEDIUM to unknown element 9999: sense $s = 05/24/00 (tgt; real libraries 05/21/01)" test "$s" = 05/24/00
s=$(sense a6 00 $(hex16 "$MT_START") $(hex16 "$full_slot") $(hex16 "$DT_START") $(hex16 "$full2") 00 00)
check "Q8 EXCHANGE MEDIUM: sense $s = 05/20/00 (not implemented)" test "$s" = 05/20/00
s=$(sense 2b 00 $(hex16 "$MT_START") $(hex16 "$full_slot") 00 00 00 00)
check "Q8 POSITION TO ELEMENT: sense $s = 05/20/00 (not implemented)" test "$s" = 05/20/00
seen=
for i in 1 2 3; do # the first command after login may get the power-on UNIT ATTENTION 06/29/00
	s=$(sense_of "$DRIVE0_SG" 00 00 00 00 00 00)
	seen+=" $s"
	[ "${s%%/*}" = 06 ] || break
done
check "Q8 TEST UNIT READY on empty drive 0 ($DRIVE0_SG): sense$seen, ending in 02/3A/00 (not ready, no medium)" \
	test "$s" = 02/3A/00

# Q6: variable-block read on drive 0
if mtx -f "$CHANGER_SG" load 1 0 >"$w/load.log" 2>&1; then
	for i in $(seq 1 30); do mt -f "$DRIVE0_NST" status 2>&1 | grep -q ONLINE && break; sleep 0.5; done
	mt -f "$DRIVE0_NST" setblk 0
	mt -f "$DRIVE0_NST" rewind
	head -c 1000 /dev/urandom >"$w/block"
	dd if="$w/block" of="$DRIVE0_NST" bs=1000 count=1 2>/dev/null
	mt -f "$DRIVE0_NST" weof 1
	mt -f "$DRIVE0_NST" rewind
	dd if="$DRIVE0_NST" of="$w/back" bs=1500 count=1 2>/dev/null
	check "Q6 through st: the 1000-byte block read with bs=1500 gives $(stat -c %s "$w/back") bytes of which only the first 500 are data, the rest zeros (silent corruption)" \
		eval '[ "$(stat -c %s "$w/back")" = 1000 ] && cmp -s -n 500 "$w/block" "$w/back" &&
			[ -z "$(tail -c 500 "$w/back" | tr -d "\\0")" ]'
	mt -f "$DRIVE0_NST" rewind
	dd if="$DRIVE0_NST" of="$w/back" bs=65536 count=1 2>/dev/null
	check "Q6 read with bs=65536 (>= 2x the block) the block comes back intact" cmp -s "$w/block" "$w/back"
	mt -f "$DRIVE0_NST" rewind
	sg_raw -v -r 1500 -o "$w/raw" "$DRIVE0_SG" 08 00 00 05 dc 00 >"$w/raw.log" 2>&1 || true
	got=$(stat -c %s "$w/raw" 2>/dev/null) || true
	check "Q6 through SG_IO: READ(6) of 1500 bytes on the 1000-byte block reports ILI, information 500, and only $got bytes transferred (tgt bug, fixed in 1.0.94: do not trust the residual)" \
		eval 'grep -q "Info fld=0x1f4 \[500\] *ILI" "$w/raw.log" && [ "$got" = 500 ]'
	mtx -f "$CHANGER_SG" unload 1 0 >/dev/null 2>&1 || true
else
	not_ok "Q6 could not load slot 1 into drive 0: $(cat "$w/load.log")"
fi

# Q7: SIGTERM
pid=$(cat /run/vtl/tgtd.pid)
kill -TERM "$pid"
sleep 1
state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || true
check "Q7 tgtd ignores SIGTERM: after kill -TERM it is still running (state $state) and answers" \
	eval '[ -n "$state" ] && [ "$state" != Z ] && mtx -f "$CHANGER_SG" status >/dev/null'

echo "tgt-quirks: $passed passed, $failed failed"
rm -rf "$w"
[ "$failed" = 0 ]
