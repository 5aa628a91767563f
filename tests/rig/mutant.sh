#!/bin/bash
# mutant.sh — a deliberately wrong changer command, to prove the differential harness catches
# wrong answers (tests/rig/diff-selftest.sh).
#
# usage: mutant.sh KIND CHANGER_CMD <changer-device> <op> [args…]
#   (so "tests/rig/mutant.sh loaded+1 /etc/bacula/scripts/mtx-changer" is a changer command
#   prefix like any other)
# KIND:
#   loaded+1          `loaded` answers the right slot plus one            (caught as: view)
#   list-swap         `list` swaps the slot numbers of its first two lines  (caught as: view)
#   unload-elsewhere  `unload` puts the cartridge into the first other empty storage slot
#                     and answers exactly like a correct unload          (caught as: state)
# Every other operation is passed through unchanged.
set -eu
kind=$1 cmd=$2 dev=$3 op=$4
shift 4
case $kind:$op in
loaded+1:loaded)
	rc=0
	out=$("$cmd" "$dev" "$op" "$@") || rc=$?
	[[ $out =~ ^[0-9]+$ ]] && out=$((out + 1))
	printf '%s\n' "$out"
	exit "$rc"
	;;
list-swap:list)
	rc=0
	out=$("$cmd" "$dev" "$op" "$@") || rc=$?
	printf '%s\n' "$out" | awk -F: '
		NR == 1 { a = $1; l1 = $0; next }
		NR == 2 { b = $1; l2 = $0; sub(/^[^:]*/, b, l1); sub(/^[^:]*/, a, l2); print l1; print l2; next }
		{ print }'
	exit "$rc"
	;;
unload-elsewhere:unload)
	want=$1
	other=$(mtx -f "$dev" status | awk -v want="$want" '
		/^ *Storage Element [0-9]+:Empty/ { split($3, f, ":"); if (f[1] != want) { print f[1]; exit } }')
	[ -n "$other" ] || { echo "mutant: no other empty slot" >&2; exit 1; }
	shift
	# The stock script echoes the slot it was given; print what a correct unload would print.
	rc=0
	out=$("$cmd" "$dev" "$op" "$other" "$@" 2>&1) || rc=$?
	printf '%s\n' "${out//Storage Element $other.../Storage Element $want...}"
	exit "$rc"
	;;
loaded+1:* | list-swap:* | unload-elsewhere:*)
	exec "$cmd" "$dev" "$op" "$@"
	;;
*)
	echo "mutant: unknown kind '$kind'" >&2
	exit 2
	;;
esac
