#!/bin/bash
# aws-lifecycle.sh — the AWS Storage Gateway lifecycle (docs/aws.md) on a real kernel: changerd
# owns the rig's `aws` library (tgt over iSCSI, /dev/sgN) and drives it through the real AWS SDK
# against sgw-emulator on the guest's 127.0.0.1; Bareos' Changer Command and the operator's
# commands are the real `changer`. The simulator version of the same flows is
# crates/changerd/tests/daemon_gateway.rs (issue 9, "What it must show", second bullet).
#
# usage: scripts/vtl-run --library aws -- tests/rig/aws-lifecycle.sh
#   CHANGER_BIN    `changer` (default: target/release/changer of this checkout, or of
#                  $CARGO_TARGET_DIR)
#   CHANGERD_BIN   `changerd` (default: beside it)
#   EMULATOR_BIN   `sgw-emulator` (default: beside it)
#   Release binaries built on the host: cargo build --release -p changer -p changerd -p sgw-emulator
#   (vtl-run passes CHANGER_*, CHANGERD_* and EMULATOR_* variables into the guest).
#
# What the emulator is told. tgt cannot take a tape out of the library or put one in by itself,
# and the emulator cannot share tgt's state (it runs without --library), so the test sets the
# gateway's side to match what tgt holds and asserts what the daemon saw and did:
#   * the barcodes are read with our own `changer DEVICE listall` (directly, before the daemon
#     starts): storage slots 1–100 and I/E slots 1603–1608 and 1610 are seeded AVAILABLE;
#   * I/E slot 1609's tape is seeded ARCHIVED (on the shelf): tgt keeps it in 1609, where a
#     retrieved tape arrives;
#   * I/E slots 1601's and 1602's tapes are not seeded; they are the emulator's --new-barcodes,
#     so the tapes CreateTapes makes are cartridges already sitting in tgt's I/E slots;
#   * after an export the test sends the emulator `Eject` (what a gateway notices by itself);
#     the tape stays in tgt's I/E slot, and the daemon must report it there.
# The daemon (cache exclusive): one [[library]] device = $CHANGER_SG with a [library.gateway]
# on the emulator (health every 0.5 s, tape list every 2 s, followed tapes every 0.1–0.4 s;
# retrieved_hook and created_hook append a line to hooks.log), [library.export] policy "listed"
# with slots 1's and 2's barcodes, and [[library.new_tapes]] prefix BARE, min_available 101:
# 100 AVAILABLE BARE tapes in storage at start → one CreateTapes (1601's tape); the export of
# slot 1's tape leaves 100 again → a second CreateTapes (1602's tape). Exactly 2, never more.
#
# Steps (each must hold, or the script says what failed, prints the tail of the daemon's log
# at INFO and above, the emulator's log tail and the hooks file, copies the logs to $VTL_OUT,
# and exits 1):
#   1. inventory read directly; sgw-emulator and changerd started (AWS: dummy static
#      credentials, AWS_EC2_METADATA_DISABLED=true, AWS_CONFIG_FILE and
#      AWS_SHARED_CREDENTIALS_FILE naming files that do not exist; the guest has no network);
#      the first CreateTapes seen at the emulator before the export
#   2. export: Bareos `transfer 1 1611` exits 0; the test `Eject`s the tape; `changer tapes
#      --json` shows it ARCHIVED at ie:1611, where mtx status (tgt) still has it (slot 1 may
#      hold a new tape by then: the lowest free storage slot); the daemon logged "archival
#      started" with requested_by and the status changes to IN TRANSIT TO VTS … ARCHIVED
#   3. the policy: `transfer 5 1612` exits 1 with one line saying refused … policy; slot 5 full,
#      1612 empty (mtx status)
#   4. an unhealthy gateway: SetFaults CacheDirtyPercent 95, then `transfer 2 1612` (allowed by
#      the policy) exits 1 mentioning dirty; slot 2 full; the fault cleared
#   5. retrieval: `changer retrieve DEVICE <1609's> --wait 60` exits 0; mtx status has the tape
#      in a storage slot and 1609 empty (a real MOVE MEDIUM); status RETRIEVED at slot:N; the
#      retrieved hook ran with it and N
#   6. the low-water mark: 1601's and 1602's tapes AVAILABLE in storage slots (mtx status agrees,
#      both I/E slots empty), the created hook ran with each, the daemon logged two creations
#      and the emulator's Calls count exactly 2 CreateTapes
#   7. throttling: SetFaults Throttle 100 → `changer tapes` exits 1 saying throttled; cleared,
#      `changer tapes` answers again
#   8. a disconnected gateway: SetFaults Disconnected → an allowed export exits 1 saying not
#      connected (slot 2 stays full); a storage-to-storage `transfer 3 1599` still works;
#      `changer status` eventually says "not reachable"; cleared → status --json shows the
#      gateway connected, `changer tapes` answers, still 2 CreateTapes
#   9. SIGTERM: changerd exits 0 (and the emulator too); every Bareos invocation in the
#      changer's log was answered by changerd
set -eu

: "${CHANGER_SG:?run me through scripts/vtl-run --library aws}"
[ "${VTL_LIBRARY:-}" = aws ] || { echo "aws-lifecycle: needs the aws library (scripts/vtl-run --library aws)"; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rel=${CARGO_TARGET_DIR:-$root/target}/release
changer=${CHANGER_BIN:-$rel/changer}
changerd=${CHANGERD_BIN:-$(dirname "$changer")/changerd}
emulator=${EMULATOR_BIN:-$(dirname "$changer")/sgw-emulator}
W=/run/aws-lifecycle
D=$W/changer
GW=arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-0A1B2C3D
unset CHANGER_CONFIG CHANGER_SOCKET # the inventory is read directly; the daemon's config comes later
t_start=${EPOCHREALTIME/./}
t_phase=$t_start
step_no=0
daemon_pid=
emu_pid=
emu_port=

phase() { # print the wall time of the previous phase, announce the next
	local now=${EPOCHREALTIME/./}
	[ "$step_no" -gt 0 ] && echo "   ($(((now - t_phase) / 1000)) ms)"
	t_phase=$now
	step_no=$((step_no + 1))
	echo "== $step_no. $*"
}
fail() {
	echo "aws-lifecycle: FAILED (step $step_no): $*"
	echo "---- changerd log (last 50 lines at INFO and above; the debug lines are in $W/changerd.log):"
	grep -v ' DEBUG ' "$W/changerd.log" 2>/dev/null | tail -n 50 || echo "(none)"
	echo "---- sgw-emulator log (last 20 lines of $W/emulator.log):"
	tail -n 20 "$W/emulator.log" 2>/dev/null || echo "(none)"
	echo "---- hooks ($W/hooks.log):"
	cat "$W/hooks.log" 2>/dev/null || echo "(none)"
	if [ -n "${VTL_OUT:-}" ] && [ -d "$VTL_OUT" ]; then
		mkdir -p "$VTL_OUT/aws-lifecycle" && cp -a "$W"/*.log "$W"/*.txt "$D/changer.toml" "$VTL_OUT/aws-lifecycle/" 2>/dev/null &&
			echo "aws-lifecycle: the logs are in aws-lifecycle/ of the run's out/files (vtl-run prints its host path)"
	fi
	exit 1
}
# At exit: a daemon or an emulator the script did not stop itself (a failure).
trap '[ -z "$daemon_pid" ] || kill -KILL "$daemon_pid" 2>/dev/null; [ -z "$emu_pid" ] || kill -KILL "$emu_pid" 2>/dev/null; true' EXIT
proc_state() { # the state letter of process $1 (Z = exited, not yet reaped), or nothing
	local line
	line=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	line=${line##*) }
	echo "${line%% *}"
}
# stop NAME PID: SIGTERM, then wait up to 60 s for the exit; fails unless it exits 0.
stop() {
	local i rc=0
	kill -TERM "$2" || fail "cannot send SIGTERM to $1 (pid $2)"
	for ((i = 0; i < 600; i++)); do
		case $(proc_state "$2") in '' | Z) break ;; esac
		sleep 0.1
	done
	case $(proc_state "$2") in '' | Z) ;; *) fail "$1 did not stop within 60 s of SIGTERM" ;; esac
	wait "$2" || rc=$?
	[ "$rc" = 0 ] || fail "$1 exited with status $rc after SIGTERM (want 0)"
}

# run CMD…: runs it, keeps its exit status in $rc and its stdout+stderr in $out (and in
# $W/last.txt); never fails by itself.
run() {
	rc=0
	out=$(timeout -k 5 120 "$@" 2>&1) || rc=$?
	printf '%s\n' "$out" >"$W/last.txt"
}
chg() { run "$changer" "$@"; }
# eventually SECONDS WHAT CMD…: until CMD succeeds, or fail saying WHAT was not seen.
eventually() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((${EPOCHREALTIME/./} + secs * 1000000))
	until "$@"; do
		[ "${EPOCHREALTIME/./}" -lt "$deadline" ] || fail "not within ${secs} s: $what (last command output: ${out:0:600})"
		sleep 0.2
	done
}

# emu OP [JSON]: an emulator control operation (SgwEmulator.OP) over bash's /dev/tcp; the
# answer's JSON body in $emu_out; fails unless the emulator answers HTTP 200.
emu() {
	local body='{}' answer status
	[ $# -ge 2 ] && body=$2
	exec 9<>"/dev/tcp/127.0.0.1/$emu_port" || fail "cannot connect to the emulator on port $emu_port"
	printf 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: SgwEmulator.%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		"$1" "${#body}" "$body" >&9
	answer=$(timeout 30 cat <&9) || true
	exec 9<&-
	status=${answer%%$'\r\n'*}
	emu_out=${answer#*$'\r\n\r\n'}
	[[ $status == "HTTP/1.1 200"* ]] || fail "emulator control $1 $body answered: ${status:-nothing} $emu_out"
}
# calls OP: how many OP calls the emulator answered (its Calls control operation).
calls() {
	emu Calls
	local n
	n=$(grep -o "\"$1\":[0-9]*" <<<"$emu_out") || true
	echo "${n#*:}"
}

# mtx_status: `mtx status` of the library (what tgt holds) into $W/mtx.txt.
mtx_status() {
	timeout 60 mtx -f "$CHANGER_SG" status >"$W/mtx.txt" 2>&1 || fail "mtx status failed: $(tail -n 5 "$W/mtx.txt")"
}
# mtx_slot N: what mtx status says of slot N: the barcode, "Empty", or "Full" (no barcode).
mtx_slot() {
	local line
	line=$(grep -E "^ *Storage Element $1( IMPORT/EXPORT)?:" "$W/mtx.txt") || { echo "?"; return; }
	case $line in
	*:Empty*) echo Empty ;;
	*VolumeTag=*) line=${line##*VolumeTag=}; echo "${line%% *}" ;;
	*) echo Full ;;
	esac
}
# mtx_where BARCODE: the slot number mtx status shows it in (storage or I/E), or nothing.
mtx_where() {
	sed -n "s/^ *Storage Element \([0-9]*\)\( IMPORT\/EXPORT\)\{0,1\}:Full *:VolumeTag=$1 *\$/\1/p" "$W/mtx.txt"
}
expect_slot() { # N WANT WHY
	local got
	got=$(mtx_slot "$1")
	[ "$got" = "$2" ] || fail "mtx status: slot $1 holds '$got', want '$2' ($3)"
}

# tapes: `changer tapes DEVICE --json` through the daemon into $W/tapes.txt as
# "BARCODE|STATUS|LOCATION" lines (empty fields for null); fails (returns 1) when it fails.
tapes() {
	chg tapes "$CHANGER_SG" --json
	[ "$rc" = 0 ] || return 1
	perl -MJSON::PP -e '
		my $all = JSON::PP->new->decode(do { local $/; <STDIN> });
		print join("|", $_->{barcode}, $_->{status} // "", $_->{location} // ""), "\n" for @$all;
	' <<<"$out" >"$W/tapes.txt" || fail "changer tapes --json is not a JSON list of tapes: $out"
}
# tape BARCODE: its "STATUS|LOCATION" from the last tapes call.
tape() {
	local line
	line=$(grep "^$1|" "$W/tapes.txt") || { echo "(not listed)"; return; }
	echo "${line#*|}"
}
# tape_is BARCODE STATUS|LOCATION-PATTERN: a fresh tapes call shows the tape so (for eventually).
tape_is() {
	tapes || return 1
	# shellcheck disable=SC2053 # the second argument is a pattern
	[[ $(tape "$1") == $2 ]]
}
hooks_have() { grep -qF -- "$1" "$W/hooks.log" 2>/dev/null; }

# ------------------------------------------------------------------------------------------------
phase "inventory (changer listall, directly); start sgw-emulator and changerd"
for b in "$changer" "$changerd" "$emulator"; do
	[ -x "$b" ] || fail "$b is not executable (cargo build --release -p changer -p changerd -p sgw-emulator; CHANGER_BIN, CHANGERD_BIN, EMULATOR_BIN)"
done
rm -rf "$W"
mkdir -p "$W" "$D" || fail "mkdir $W"
: >"$W/hooks.log"
chg "$CHANGER_SG" listall
[ "$rc" = 0 ] || fail "changer $CHANGER_SG listall exited $rc: $out"
declare -A slot_of bc
seed=()
while IFS=: read -r kind slot full barcode; do
	case $kind:$full in S:F | I:F) ;; *) continue ;; esac
	barcode=${barcode%% *} # listall keeps mtx's 32-column padding
	[ -n "$barcode" ] || fail "slot $slot has no barcode: $out"
	bc[$slot]=$barcode
	slot_of[$barcode]=$slot
	case $slot in
	1601 | 1602) ;; # the new tapes: not seeded
	1609) seed+=(--tape "$barcode=ARCHIVED") ;;
	*) seed+=(--tape "$barcode") ;;
	esac
done <<<"$out"
printf -v want1 'BARE%06X' $((0x0A1F00 + 0x1D3))
[ "${bc[1]:-}" = "$want1" ] || fail "slot 1 holds '${bc[1]:-}', want $want1 (scripts/rig/libraries/aws.sh)"
for s in 2 3 5 1601 1602 1609; do [ -n "${bc[$s]:-}" ] || fail "slot $s is empty: $out"; done
[ "${#seed[@]}" = $((2 * 108)) ] || fail "expected 108 tapes to seed (100 storage, 8 I/E), got $((${#seed[@]} / 2))"
echo "   $((${#bc[@]})) tapes: slot 1 ${bc[1]}, 5 ${bc[5]}; I/E 1609 ${bc[1609]} (ARCHIVED), 1601 ${bc[1601]} and 1602 ${bc[1602]} (new)"

"$emulator" --listen 127.0.0.1:0 --port-file "$W/emulator.port" --gateway-arn "$GW" "${seed[@]}" \
	--new-barcodes "${bc[1601]},${bc[1602]}" \
	--creating-ms 300 --transit-ms 1000 --archiving-ms 1000 --retrieving-ms 1000 \
	>/dev/null 2>"$W/emulator.log" </dev/null &
emu_pid=$!
for ((i = 0; i < 300; i++)); do
	[ -s "$W/emulator.port" ] && break
	case $(proc_state "$emu_pid") in '' | Z) wait "$emu_pid" || true; emu_pid=; fail "sgw-emulator exited: $(tail -n 5 "$W/emulator.log")" ;; esac
	sleep 0.1
done
emu_port=$(cat "$W/emulator.port" 2>/dev/null) || fail "sgw-emulator did not write its port within 30 s"
emu State
echo "   sgw-emulator (pid $emu_pid) on 127.0.0.1:$emu_port, $(grep -o '"TapeBarcode"' <<<"$emu_out" | wc -l) tapes"

cat >"$D/changer.toml" <<EOF
# written by tests/rig/aws-lifecycle.sh
socket = "$D/changerd.sock"
state_dir = "$D/state"
lock_dir = "$D/lock"
log_file = "$W/changer.log"
log_level = "debug" # changerd's log: CHANGER_LOG below (the AWS SDK's debug lines left out)

[[library]]
device = "$CHANGER_SG"
cache = "exclusive"

[library.gateway]
gateway_arn = "$GW"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:$emu_port"
health_interval = 0.5
tapes_interval = 2
follow_interval = 0.1
follow_max_interval = 0.4
retrieved_hook = "echo retrieved \$CHANGER_BARCODES slots \$CHANGER_SLOTS >> $W/hooks.log"
created_hook = "echo created \$CHANGER_BARCODES slots \$CHANGER_SLOTS >> $W/hooks.log"

[library.export]
policy = "listed"
barcodes = ["${bc[1]}", "${bc[2]}"]

[[library.new_tapes]]
barcode_prefix = "BARE"
min_available = 101
size_gib = 100
pool = "GLACIER"
EOF
# Contract C7: dummy static credentials, no instance metadata, no profile files.
env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_DEFAULT_PROFILE \
	AWS_ACCESS_KEY_ID=AKIDRIGTEST AWS_SECRET_ACCESS_KEY=rig-test-secret AWS_EC2_METADATA_DISABLED=true \
	AWS_REGION=us-east-1 AWS_CONFIG_FILE="$D/no-aws-config" AWS_SHARED_CREDENTIALS_FILE="$D/no-aws-credentials" \
	CHANGER_LOG="info,changerd=debug,sgw=debug" NO_COLOR=1 "$changerd" --config "$D/changer.toml" >"$W/changerd.out" 2>"$W/changerd.log" </dev/null &
daemon_pid=$!
for ((i = 0; i < 1200; i++)); do # it listens once the library is open and read (3200 slots)
	[ -S "$D/changerd.sock" ] && break
	case $(proc_state "$daemon_pid") in '' | Z) wait "$daemon_pid" || true; daemon_pid=; fail "changerd exited before it listened" ;; esac
	sleep 0.1
done
[ -S "$D/changerd.sock" ] || fail "changerd did not listen within 120 s"
export CHANGER_CONFIG=$D/changer.toml
echo "   changerd (pid $daemon_pid, cache exclusive) listens on $D/changerd.sock; gateway $GW"
# The mark is checked at start: 100 AVAILABLE BARE tapes in storage, 101 wanted, so one tape is
# created before anything else happens (were the export first, one call would create two).
created_at_start() { [ "$(calls CreateTapes)" = 1 ]; }
eventually 30 "the first CreateTapes (the low-water mark checked at start)" created_at_start

# ------------------------------------------------------------------------------------------------
b1=${bc[1]}
phase "export: Bareos transfer 1 1611 ($b1), the gateway notices, followed to ARCHIVED"
chg "$CHANGER_SG" transfer 1 1611
[ "$rc" = 0 ] || fail "transfer 1 1611 exited $rc (want 0): $out"
emu Eject "{\"TapeBarcode\": \"$b1\"}"
echo "   Eject $b1: $emu_out"
eventually 30 "$b1 ARCHIVED in changer tapes" tape_is "$b1" "ARCHIVED|*"
[ "$(tape "$b1")" = "ARCHIVED|ie:1611" ] || fail "changer tapes shows $b1 as '$(tape "$b1")', want ARCHIVED at ie:1611 (where tgt still holds it)"
mtx_status
expect_slot 1611 "$b1" "tgt cannot take the tape away"
[ "$(mtx_slot 1)" != "$b1" ] || fail "mtx status: $b1 is still in slot 1" # a new tape may fill it
grep -F "archival started" "$W/changerd.log" | grep -F "$b1" | grep -q 'requested_by="uid 0' ||
	fail "no 'archival started' line for $b1 with requested_by=\"uid 0 …\" in the daemon's log"
for to in "IN TRANSIT TO VTS" ARCHIVED; do
	grep -F "tape status changed" "$W/changerd.log" | grep -F "barcode=$b1" | grep -qF "to=$to" ||
		fail "the daemon's log has no status change of $b1 to $to"
done
echo "   $b1: ARCHIVED, reported at ie:1611 = tgt's I/E slot 1611; $(grep -F "tape status changed" "$W/changerd.log" | grep -cF "barcode=$b1") status changes logged"

# ------------------------------------------------------------------------------------------------
b5=${bc[5]}
phase "the export policy refuses slot 5's $b5: transfer 5 1612"
chg "$CHANGER_SG" transfer 5 1612
[ "$rc" = 1 ] || fail "transfer 5 1612 exited $rc (want 1): $out"
[ "$(wc -l <<<"$out")" = 1 ] || fail "want one line, got: $out"
[[ $out == *refused* && $out == *polic* && $out == *"$b5"* ]] || fail "want a refusal naming $b5 and the policy: $out"
echo "   said: $out"
mtx_status
expect_slot 5 "$b5" "a refused export moves nothing"
expect_slot 1612 Empty "a refused export moves nothing"

# ------------------------------------------------------------------------------------------------
b2=${bc[2]}
phase "an unhealthy gateway refuses an allowed export: CacheDirtyPercent 95, transfer 2 1612 ($b2)"
emu SetFaults '{"CacheDirtyPercent": 95}'
chg "$CHANGER_SG" transfer 2 1612
[ "$rc" = 1 ] || fail "transfer 2 1612 with the cache 95 % dirty exited $rc (want 1): $out"
[[ $out == *dirty* ]] || fail "want the refusal to mention the dirty cache: $out"
echo "   said: $out"
emu SetFaults '{"CacheDirtyPercent": 0}'
mtx_status
expect_slot 2 "$b2" "a refused export moves nothing"
expect_slot 1612 Empty "a refused export moves nothing"

# ------------------------------------------------------------------------------------------------
b9=${bc[1609]}
phase "retrieval: changer retrieve $b9 --wait 60, imported from I/E slot 1609"
chg retrieve "$CHANGER_SG" "$b9" --wait 60
[ "$rc" = 0 ] || fail "changer retrieve $b9 --wait 60 exited $rc (want 0): $out"
mtx_status
expect_slot 1609 Empty "the retrieved tape was imported"
s9=$(mtx_where "$b9")
if [ -z "$s9" ] || [ "$s9" -gt 1600 ]; then fail "mtx status has $b9 in slot '${s9:-none}', want a storage slot (1–1600)"; fi
tapes || fail "changer tapes exited $rc: $out"
[ "$(tape "$b9")" = "RETRIEVED|slot:$s9" ] || fail "changer tapes shows $b9 as '$(tape "$b9")', want RETRIEVED|slot:$s9"
eventually 20 "the retrieved hook with $b9 and slot $s9" hooks_have "retrieved $b9 slots $s9"
echo "   $b9: RETRIEVED in storage slot $s9 (mtx status agrees); hook: $(grep retrieved "$W/hooks.log")"

# ------------------------------------------------------------------------------------------------
n1=${bc[1601]} n2=${bc[1602]}
phase "the low-water mark: $n1 and $n2 created and imported into storage slots"
for b in "$n1" "$n2"; do
	eventually 60 "$b AVAILABLE in a storage slot" tape_is "$b" "AVAILABLE|slot:*"
done
mtx_status
for b in "$n1" "$n2"; do
	loc=$(tape "$b")
	s=${loc#*|slot:}
	expect_slot "${slot_of[$b]}" Empty "$b was imported from it"
	[ "$(mtx_where "$b")" = "$s" ] || fail "changer tapes shows $b at slot:$s, mtx status in slot '$(mtx_where "$b")'"
	eventually 20 "the created hook with $b and slot $s" grep -qE "^created .*$b.* slots .*\\b$s\\b" "$W/hooks.log"
	echo "   $b: from I/E slot ${slot_of[$b]} to storage slot $s"
done
created=$(calls CreateTapes)
[ "$created" = 2 ] || fail "the emulator answered ${created:-no} CreateTapes calls, want 2 (one at start, one after the export)"
n=$(grep -c "below the low-water mark: creating tapes" "$W/changerd.log") || true
[ "$n" = 2 ] || fail "the daemon logged $n creations, want 2"
echo "   2 CreateTapes (emulator's Calls), 2 in the daemon's log; hooks: $(grep created "$W/hooks.log" | tr '\n' ';')"

# ------------------------------------------------------------------------------------------------
phase "throttling: SetFaults Throttle 100, changer tapes"
emu SetFaults '{"Throttle": 100}'
chg tapes "$CHANGER_SG"
[ "$rc" = 1 ] || fail "changer tapes while throttled exited $rc (want 1): $out"
[[ ${out,,} == *throttl* ]] || fail "want a message about throttling: $out"
echo "   said: $out"
emu SetFaults '{"Throttle": 0}'
tapes || fail "changer tapes after the throttling exited $rc: $out"

# ------------------------------------------------------------------------------------------------
b3=${bc[3]}
phase "a disconnected gateway: exports refused, other moves go on, status says so; reconnected"
emu SetFaults '{"Disconnected": true}'
chg "$CHANGER_SG" transfer 2 1612
[ "$rc" = 1 ] || fail "transfer 2 1612 with the gateway disconnected exited $rc (want 1): $out"
[[ $out == *"not connected"* ]] || fail "want the refusal to say the gateway is not connected: $out"
echo "   export said: $out"
chg "$CHANGER_SG" transfer 3 1599
[ "$rc" = 0 ] || fail "transfer 3 1599 (storage to storage) with the gateway disconnected exited $rc (want 0): $out"
mtx_status
expect_slot 2 "$b2" "a refused export moves nothing"
expect_slot 1599 "$b3" "a move that is not an export goes on"
status_says() {
	chg status "$CHANGER_SG"
	[ "$rc" = 0 ] && [[ $out == *"not reachable"* ]]
}
eventually 20 "changer status saying the gateway is not reachable" status_says
echo "   status: $(grep -F "not reachable" <<<"$out")"
emu SetFaults '{"Disconnected": false}'
connected() {
	chg status "$CHANGER_SG" --json
	[ "$rc" = 0 ] || return 1
	perl -MJSON::PP -e 'exit(JSON::PP->new->decode(do { local $/; <STDIN> })->{data}{gateway}{connected} ? 0 : 1)' <<<"$out"
}
eventually 20 "changer status --json showing the gateway connected again" connected
tapes || fail "changer tapes after the reconnection exited $rc: $out"
created=$(calls CreateTapes)
[ "$created" = 2 ] || fail "the emulator answered $created CreateTapes calls by now, want still 2"
echo "   connected again; changer tapes answers ($(wc -l <"$W/tapes.txt") tapes); still 2 CreateTapes"

# ------------------------------------------------------------------------------------------------
phase "SIGTERM: changerd and the emulator exit 0"
stop changerd "$daemon_pid"
daemon_pid=
stop sgw-emulator "$emu_pid"
emu_pid=
invoked=$(grep -c ' invoked ' "$W/changer.log") || true
answered=$(grep -c 'answered by changerd' "$W/changer.log") || true
if [ "$invoked" = 0 ] || [ "$answered" != "$invoked" ]; then
	fail "$answered of $invoked Bareos invocations in the changer's log were answered by changerd"
fi
echo "   changerd exited 0; it answered all $invoked Bareos invocations (the changer's log)"
phase "done"
echo "aws-lifecycle: OK ($(((${EPOCHREALTIME/./} - t_start) / 1000)) ms in the guest)"
