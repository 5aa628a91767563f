#!/bin/bash
# diff-selftest.sh — proves the differential harness (diff-harness.sh) on the rig's library.
#
# usage: scripts/vtl-run [--library small|aws] -- tests/rig/diff-selftest.sh [MUTANT…]
#   MUTANT…        the mutants of check 3 (default: loaded+1 list-swap unload-elsewhere)
#   STOCK_CHANGER  the reference command (default Debian's /etc/bacula/scripts/mtx-changer from
#                  bacula-common, which calls mtx)
#
# Checks, on the sequence tests/rig/seq/$VTL_LIBRARY.seq:
#   1. identity: the stock script against itself, each side on a freshly started library, must
#      agree on every step (exit status, director view, library state);
#   2. SCSI counting works: every step of the stock script issues exactly mtx 1.3.12's commands
#      (INQUIRY, MODE SENSE 1Dh, READ ELEMENT STATUS per element type — never type 0 — plus
#      MOVE MEDIUM for load/unload/transfer: 6 or 7 SG_IO, as measured in
#      ../shared/reference/baseline-mtx-changer.md), and the changer's own command counter
#      (sysfs iorequest_cnt) agrees with strace's SG_IO count;
#   3. each mutant of tests/rig/mutant.sh must be caught, at exactly the steps and in exactly
#      the aspect its wrong answer affects:
#        loaded+1          every `loaded` step, view only
#        list-swap         every `list` step, view only
#        unload-elsewhere  first difference at the first `unload` step, state only
#      (arguments pick a subset);
#   4. a recorded side whose SG_IO trace shows READ ELEMENT STATUS for element type 0 is failed
#      (the tgt 1.0.85 guard; the stock script never sends it, so a recorded side is edited).
# Prints one line per check and `diff-selftest: N passed, M failed`; exits 1 on any failure.
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H=$here/diff-harness.sh
seq=$here/seq/${VTL_LIBRARY:?run me through scripts/vtl-run}.seq
stock=${STOCK_CHANGER:-/etc/bacula/scripts/mtx-changer}
w=$(mktemp -d /tmp/diff-selftest.XXXXXX)
passed=0 failed=0

ok() { passed=$((passed + 1)); echo "ok   - $*"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $*"; }

# "step:aspects" for every differing step of a compare report (aspects joined with '+').
differing() {
	awk '/^ *[0-9]+  / && /DIFFER: / { a = $0; sub(/.*DIFFER: /, "", a); gsub(/ /, "+", a); print $1 ":" a }' "$1"
}
steps_with_op() { # DIR OP -> step numbers whose operation is OP
	local f
	for f in "$1"/*.op; do
		[ "$(cat "$f")" = "$2" ] && basename "$f" .op
	done | sort -n
}

echo "# library $VTL_LIBRARY, sequence $seq, reference $stock"

# 1. identity
rc=0
"$H" -o "$w/id" -a "$stock" -b "$stock" "$seq" >"$w/id.txt" 2>&1 || rc=$?
if [ "$rc" = 0 ]; then
	ok "identity: the stock script agrees with itself on $(cat "$w/id/A/steps") steps"
else
	not_ok "identity: the stock script disagrees with itself (exit $rc):"
	sed 's/^/    /' "$w/id.txt"
fi
[ -f "$w/id/A/steps" ] || { echo "diff-selftest: no recorded reference side; giving up"; exit 1; }
n=$(cat "$w/id/A/steps")

# 2. SG_IO counts
bad=
for ((i = 1; i <= n; i++)); do
	op=$(cat "$w/id/A/$i.op")
	read -r count ops <"$w/id/A/$i.sgio"
	case $op in load | unload | transfer) want="12,1a,b8/2,b8/3,b8/4,b8/1,a5" ;; *) want="12,1a,b8/2,b8/3,b8/4,b8/1" ;; esac
	cmds=$(cat "$w/id/A/$i.cmds")
	if [ "$ops" != "$want" ] || [ "$count" != "$(tr , '\n' <<<"$want" | wc -l)" ] || [ "$cmds" != "$count" ]; then
		bad+=" step $i ($op): $count SG_IO [$ops], $cmds changer commands; expected [$want] and equal counts;"
	fi
done
if [ -z "$bad" ]; then
	ok "SCSI counting: every step issued mtx's 6 (inventory) or 7 (+ MOVE MEDIUM) commands, by strace and by the changer's counter"
else
	not_ok "SG_IO counting:$bad"
fi

# 3. mutants
expect_each() { # KIND OP: every step with OP differs in view only, no other step differs
	local kind=$1 op=$2 want got
	want=$(steps_with_op "$w/id/A" "$op" | sed 's/$/:view/')
	got=$(differing "$w/$kind.txt")
	if [ -n "$want" ] && [ "$got" = "$want" ]; then
		ok "mutant $kind caught: view differs at every '$op' step ($(echo $want))"
	else
		not_ok "mutant $kind: expected differences [$(echo $want)], got [$(echo $got)]"
		sed 's/^/    /' "$w/$kind.txt"
	fi
}
[ $# -gt 0 ] || set -- loaded+1 list-swap unload-elsewhere
for kind in "$@"; do
	"$H" record --no-strace "$here/mutant.sh $kind $stock" "$seq" "$w/$kind" >/dev/null 2>&1 ||
		{ not_ok "mutant $kind: recording failed"; continue; }
	rc=0
	"$H" compare "$w/id/A" "$w/$kind" >"$w/$kind.txt" 2>&1 || rc=$?
	[ "$rc" = 1 ] || { not_ok "mutant $kind: harness exit $rc, expected 1 (differences found)"; sed 's/^/    /' "$w/$kind.txt"; continue; }
	case $kind in
	loaded+1) expect_each "$kind" loaded ;;
	list-swap) expect_each "$kind" list ;;
	unload-elsewhere)
		first_unload=$(steps_with_op "$w/id/A" unload | head -n 1)
		first=$(differing "$w/$kind.txt" | head -n 1)
		if [ -n "$first_unload" ] && [ "$first" = "$first_unload:state" ]; then
			ok "mutant $kind caught: first difference at unload step $first_unload, in the library state only"
		else
			not_ok "mutant $kind: expected the first difference '$first_unload:state', got '$first'"
			sed 's/^/    /' "$w/$kind.txt"
		fi
		;;
	*) not_ok "unknown mutant '$kind' (mutant.sh knows loaded+1 list-swap unload-elsewhere)" ;;
	esac
done

# 4. the READ ELEMENT STATUS type 0 guard: a side whose step 1 sent b8/0 is flagged
cp -r "$w/id/A" "$w/type0"
echo "6 12,1a,b8/0,b8/3,b8/4,b8/1" >"$w/type0/1.sgio"
rc=0
"$H" compare "$w/id/A" "$w/type0" >"$w/type0.txt" 2>&1 || rc=$?
got=$(differing "$w/type0.txt")
if [ "$rc" = 1 ] && [ "$got" = "1:RES-type-0@B" ] && grep -q 'element type 0 (all) was sent' "$w/type0.txt"; then
	ok "a command that sends READ ELEMENT STATUS for element type 0 is failed (tgt 1.0.85 bug guard)"
else
	not_ok "type-0 guard: exit $rc, differences [$got]"
	sed 's/^/    /' "$w/type0.txt"
fi

echo "# identity report:"
sed 's/^/#   /' "$w/id.txt"
echo "diff-selftest: $passed passed, $failed failed"
rm -rf "$w"
[ "$failed" = 0 ]
